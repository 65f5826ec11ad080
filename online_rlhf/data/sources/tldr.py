"""openai/summarize_from_feedback, `comparisons`: a Reddit post (`info`: {post, title, subreddit}; CNN/DM rows carry
`article`), two summaries (`summaries`: [{text, policy}]) and the labeller's `choice` (0 or 1). The prompt is the
post in the TL;DR format of the original paper."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, RowError, require, user_prompt

DEFAULTS = {"template": "SUBREDDIT: r/{subreddit}\nTITLE: {title}\nPOST: {post}\nTL;DR:"}
COMPLETION, ANNOTATOR = "LLM (GPT-3 summarisers)", "human"


def adapt(data: dict, opts: dict):
    info = require(data, "info", dict)
    post = info.get("post") if info.get("post") is not None else info.get("article")
    if not isinstance(post, str):
        raise RowError("missing_field", "info has neither a 'post' nor an 'article' string")
    fields = {"subreddit": info.get("subreddit") or "", "title": info.get("title") or "", "post": post.strip()}
    summaries = require(data, "summaries", list)
    if len(summaries) != 2 or not all(isinstance(s, dict) and isinstance(s.get("text"), str) for s in summaries):
        raise RowError("wrong_type", "summaries should be two {text} objects")
    choice = require(data, "choice", int)
    if choice not in (0, 1):
        raise RowError("wrong_type", f"choice should be 0 or 1, got {choice}")
    chosen, rejected = summaries[choice], summaries[1 - choice]
    meta = {"id": info.get("id"), "chosen_policy": chosen.get("policy"), "rejected_policy": rejected.get("policy"), "worker": data.get("worker")}
    yield Pair(user_prompt(opts["template"].format(**fields), "info"), chosen["text"].strip(), rejected["text"].strip(), meta=meta)
