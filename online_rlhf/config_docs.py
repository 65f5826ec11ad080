"""docs/config.md from config/schema.yaml: every key with its type, default and description, one table per top-level
section (`make docs` writes it; tests/test_config_schema.py fails when the file is out of date)."""

from __future__ import annotations

import json
from collections.abc import Iterator

HEADER = """# Configuration reference

Generated from `config/schema.yaml` by `make docs` (`python scripts/config_docs.py > docs/config.md`); do not edit by
hand. Validation (`online_rlhf/config.py`) rejects unknown keys and fills every default below into the config, so the
rules never fall back to a value of their own, and `results/manifest.json` records the effective config. A default
written `= <key>` is that key's value. `<name>` stands for any name (datasets, mixtures, tasks, rules); a key marked
with a condition such as `source: hub` exists only in entries with that value.
"""


def resolve(node: dict, root: dict) -> dict:
    """`node` with its $ref followed (its own keys win: a description or default beside the $ref)."""
    if not isinstance(node, dict) or "$ref" not in node:
        return node
    target = root
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    target = resolve(target, root)
    own = {k: v for k, v in node.items() if k != "$ref"}
    merged = {**target, **own}
    if "required" in own and "required" in target:  # both apply (JSON Schema checks the $ref and its siblings)
        merged["required"] = [*target["required"], *(k for k in own["required"] if k not in target["required"])]
    if "properties" in own and "properties" in target:  # e.g. compute.default: the resources' keys with defaults
        props = dict(target["properties"])
        for name, sub in own["properties"].items():
            props[name] = {**props[name], **sub} if isinstance(props.get(name), dict) and isinstance(sub, dict) else sub
        merged["properties"] = props
    return merged


def type_text(node: dict, root: dict) -> str:
    node = resolve(node, root)
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " \\| ".join("null" if v is None else str(v) for v in node["enum"])
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(type_text(sub, root) for sub in node.get("oneOf", node.get("anyOf")))
    kinds = node.get("type", "object" if "properties" in node or "allOf" in node else "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    if kinds == "array" and "items" in node:
        text = f"list of {type_text(node['items'], root)}"
    bounds = [f"≥ {node['minimum']}" if "minimum" in node else "", f"> {node['exclusiveMinimum']}" if "exclusiveMinimum" in node else "",
              f"≤ {node['maximum']}" if "maximum" in node else ""]
    bounds = [b for b in bounds if b]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def default_text(node: dict, required: bool) -> str:
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    if "x-default-from" in node:
        return f"= `{node['x-default-from']}`"
    return "required" if required else ""


def members(node: dict, root: dict) -> Iterator[tuple[str, dict, bool, str]]:
    """(name, subschema, required, condition) of every key an object schema admits, through allOf and if/then."""
    node = resolve(node, root)
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        if isinstance(sub, dict) and set(sub) - {"const", "default"}:
            yield name, sub, name in required, ""
    for sub in node.get("allOf", []):
        sub = resolve(sub, root)
        if "if" in sub and "then" in sub:
            cond = ", ".join(f"{k}: {v.get('const', ' or '.join(map(str, v.get('enum', []))))}" for k, v in sub["if"].get("properties", {}).items())
            for name, s, req, _ in members(sub["then"], root):
                yield name, s, req or name in required, cond
        else:
            for name, s, req, c in members(sub, root):
                yield name, s, req or name in required, c
    if "if" in node and "then" in node and node["if"] == {"type": "object"}:
        yield from members(node["then"], root)


def rows(node: dict, root: dict, path: str) -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) of `node`'s keys, depth first; a map's entries are `<path>.<name>`."""
    seen = set()
    for name, sub, required, cond in members(node, root):
        if (name, cond) in seen:
            continue
        seen.add((name, cond))
        key = f"{path}.{name}" if path else name
        full = resolve(sub, root)
        description = " ".join(full.get("description", "").split())
        if cond:
            description = f"({cond}) {description}"
        yield key, type_text(sub, root), default_text(sub, required), description
        yield from children(full, root, key)


def children(node: dict, root: dict, key: str) -> Iterator[tuple[str, str, str, str]]:
    if members_of(node, root):
        yield from rows(node, root, key)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and members_of(resolve(extra, root), root):
        yield from rows(resolve(extra, root), root, f"{key}.<name>")
    items = node.get("items")
    if isinstance(items, dict) and members_of(resolve(items, root), root):
        yield from rows(resolve(items, root), root, f"{key}[]")
    for sub in node.get("oneOf", []):
        sub = resolve(sub, root)
        if isinstance(sub.get("additionalProperties"), dict):
            yield from rows(resolve(sub["additionalProperties"], root), root, f"{key}.<name>")


def members_of(node: dict, root: dict) -> bool:
    return isinstance(node, dict) and any(True for _ in members(node, root))


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def render(schema: dict) -> str:
    """The whole reference: the root's description, then one table per top-level key."""
    out = [HEADER, " ".join(schema.get("description", "").split()), ""]
    sections = []
    top = []
    for name, sub, required, _ in members(schema, schema):
        (sections if list(children(resolve(sub, schema), schema, name)) else top).append((name, sub, required))
    out += ["## Top level", "", "| key | type | default | description |", "|---|---|---|---|"]
    for name, sub, required in top:
        out.append(f"| `{name}` | {cell(type_text(sub, schema))} | {cell(default_text(sub, required))} | {cell(' '.join(resolve(sub, schema).get('description', '').split()))} |")
    out.append("")
    for name, sub, required in sections:
        full = resolve(sub, schema)
        out += [f"## `{name}`", "", " ".join(full.get("description", "").split()) or name, ""]
        out += [f"Type {type_text(sub, schema)}; default {default_text(sub, required) or 'none'}.", ""]
        table = list(children(full, schema, name))
        if table:
            out += ["| key | type | default | description |", "|---|---|---|---|"]
            out += [f"| `{k}` | {cell(t)} | {cell(d)} | {cell(desc)} |" for k, t, d, desc in table]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
