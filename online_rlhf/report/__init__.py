"""The run's summary, tables and plots."""
