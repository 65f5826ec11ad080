"""Stage 7, the online loop: sampling n responses, best/worst pairs, best-iterate selection."""
