"""Round-trip edits of the user's topics.yaml (add, edit, move, remove) that keep every comment, blank line and the
order of the entries: ruamel.yaml's round-trip mode, with each comment above an entry moving with that entry."""

from __future__ import annotations

import functools
import io
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from bot.core import topics
from bot.core.errors import ConfigError, InputError
from bot.core.fsio import atomic_write

FIELDS = ("topic", "tags", "platforms", "not_before", "notes")
_LOCK = threading.RLock()  # one read-modify-write of the file at a time in this process (the desk serves in threads)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class _Entry:
    item: Any
    eol: str  # the comment on the entry's last line ('' when none)
    lead: str  # the comment and blank lines just above the entry (they move with it)
    token: CommentToken | None  # the token that held the tail (kept for its column)


def _yaml(indent: int = 2, block_seq_indent: int = 0) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold a long Korean topic
    y.indent(mapping=max(indent, 2), sequence=max(indent, 2) + block_seq_indent, offset=block_seq_indent)
    return y


def _load(path: Path) -> tuple[CommentedSeq, YAML]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        seq = CommentedSeq()
        if text.strip():  # a file of comments only: they stay as its header
            seq.ca.comment = [None, [CommentToken(text.rstrip("\n") + "\n", CommentMark(0), None)]]
        return seq, _yaml()
    try:
        data, indent, bsi = load_yaml_guess_indent(text)
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML, nothing was changed: {exc}") from None
    if not isinstance(data, CommentedSeq):
        raise ConfigError(f"{path}:1: expected a list of topics (lines starting with '- ')")
    return data, _yaml(indent or 2, bsi or 0)


def _holder(container: Any, key: Any) -> list:
    """The comment slot list of `key` in a CommentedMap/CommentedSeq (created when missing)."""
    return container.ca.items.setdefault(key, [None, None, None, None])


def _tail_slot(seq: CommentedSeq, i: int) -> tuple[list, int]:
    """Where ruamel keeps the comment that follows entry `i` (its end-of-line comment and the lines after it)."""
    item = seq[i]
    container, key, slot = seq, i, 0
    while True:
        if isinstance(item, CommentedMap) and len(item) and not item.fa.flow_style():
            container, key, slot = item, list(item)[-1], 2
            item = item[key]
        elif isinstance(item, CommentedSeq) and len(item) and not item.fa.flow_style() and container is not seq:
            container, key, slot = item, len(item) - 1, 0
            item = item[key]
        else:
            return _holder(container, key), slot


def _detach(seq: CommentedSeq) -> tuple[list[_Entry], str, str]:
    """Split the sequence into entries, each with its own comments; returns them, the file's trailing lines and its
    header (the comment lines at the top down to the last blank line; the lines after it belong to the first entry)."""
    top = "".join(t.value for t in (seq.ca.comment[1] or [])) if seq.ca.comment else ""
    cut = top.rfind("\n\n")
    header, lead = (top[:cut + 1], top[cut + 1:]) if cut >= 0 else (top, "")
    if seq.ca.comment:
        seq.ca.comment[1] = None
    tails = []
    for i in range(len(seq)):
        slots, n = _tail_slot(seq, i)
        tok = slots[n]
        slots[n] = None
        tails.append((tok.value if tok is not None else "", tok))
    for k in list(seq.ca.items):
        if all(x is None for x in seq.ca.items[k]):
            del seq.ca.items[k]
    entries = []
    for item, (value, tok) in zip(list(seq), tails, strict=True):
        eol, _, rest = value.partition("\n")
        entries.append(_Entry(item, eol.strip(), lead, tok))
        lead = rest
    return entries, lead, header


def _attach(seq: CommentedSeq, entries: list[_Entry], trailer: str, header: str) -> None:
    seq.clear()
    seq.extend(e.item for e in entries)
    head = header
    if entries and entries[0].lead.strip():  # the first entry's own comment, after a blank line below the header
        head += ("\n" if head and not entries[0].lead.startswith("\n") else "") + entries[0].lead
    if head:
        seq.ca.comment = [None, [CommentToken(head, CommentMark(0), None)]]
    elif seq.ca.comment is not None:
        seq.ca.comment[1] = None
    for i, e in enumerate(entries):
        after = entries[i + 1].lead if i + 1 < len(entries) else trailer
        value = (e.eol + "\n" if e.eol else "\n") + after
        if value == "\n":
            continue
        slots, n = _tail_slot(seq, i)
        tok = e.token if e.token is not None and e.eol else None
        if tok is None:
            tok = CommentToken(value, CommentMark(e.token.column if e.token is not None and e.eol else 0), None)
        tok.value = value
        slots[n] = tok


def _dump(y: YAML, seq: CommentedSeq) -> str:
    buf = io.StringIO()
    y.dump(seq, buf)
    return buf.getvalue()


def _text_of(item: Any) -> str:
    return str(item.get("topic", "")) if isinstance(item, dict) else str(item)


def find(entries: list[_Entry], ref: str) -> int:
    """An entry's index by its queue position (1-based, as `topics list` shows), topic id or exact topic text."""
    ref = ref.strip()
    if ref.isdigit() and len(ref) <= 4:
        n = int(ref)
        if not 1 <= n <= len(entries):
            raise InputError(f"no topic at position {n} (the queue has {len(entries)})")
        return n - 1
    for i, e in enumerate(entries):
        text = _text_of(e.item)
        if ref in (topics.topic_id(text), text) or topics.topic_id(ref) == topics.topic_id(text):
            return i
    raise InputError(f"no topic {ref!r} in the queue (give its position, id or text)")


def _value(name: str, value: Any) -> Any:
    if name == "not_before" and isinstance(value, str) and _DATE.match(value.strip()):
        return date.fromisoformat(value.strip())  # written as a plain YAML date, not a quoted string
    if name in ("tags", "platforms") and isinstance(value, list):
        s = CommentedSeq(value)
        s.fa.set_flow_style()
        return s
    return value


def _set_fields(item: Any, changes: dict[str, Any]) -> Any:
    """`item` with `changes` applied (None or empty removes a field); a plain-string entry becomes a mapping only
    when it gains a field other than its topic."""
    m = item if isinstance(item, CommentedMap) else CommentedMap(topic=item)
    for name, value in changes.items():
        if name not in FIELDS:
            raise InputError(f"unknown topic field {name!r}; known: {', '.join(FIELDS)}")
        if value is None or value == "" or value == []:
            if name == "topic":
                raise InputError("the topic is empty (an empty topic cannot be drafted)")
            m.pop(name, None)
        else:
            m[name] = _value(name, value)
    if list(m) == ["topic"] and not isinstance(item, CommentedMap):
        return m["topic"]
    return m


def _save(path: Path, y: YAML, seq: CommentedSeq, timezone: str, max_chars: int,
          known_platforms: list[str] | None = None) -> str:
    """Check the new text as blogbot reads the file (with the publishing platforms it knows, when given), then replace
    the file atomically; returns the text."""
    text = _dump(y, seq) if len(seq) else "".join(
        f"{line}\n" for line in _dump(y, seq).splitlines() if line.strip() != "[]")
    with tempfile.TemporaryDirectory() as td:
        probe = Path(td) / path.name
        probe.write_text(text, encoding="utf-8")
        try:
            topics.read_file(probe, timezone, max_chars, known_platforms)
        except ConfigError as exc:
            raise InputError(str(exc).replace(str(probe), str(path)) + "; nothing was changed") from None
    atomic_write(path, text, in_place_ok=True)  # a container's bind-mounted topics.yaml cannot be renamed over
    return text


def _entries(path: Path) -> tuple[CommentedSeq, YAML, list[_Entry], tuple[str, str]]:
    seq, y = _load(path)
    entries, trailer, header = _detach(seq)
    return seq, y, entries, (trailer, header)


def _serialized(fn):
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


@_serialized
def add(path: Path, topic: str, tags: list[str] | None = None, platforms: list[str] | None = None,
        not_before: str | None = None, notes: str | None = None, position: int | None = None,
        timezone: str = topics.DEFAULT_TZ, max_chars: int = topics.MAX_TOPIC_CHARS,
        known_platforms: list[str] | None = None) -> str:
    """Add a topic (at the end, or at 1-based `position`). Returns the topic as stored."""
    try:
        text = topics.normalize(topic, max_chars)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    seq, y, entries, ends = _entries(path)
    if any(topics.topic_id(_text_of(e.item)) == topics.topic_id(text) for e in entries):
        raise InputError(f"{path}: the topic {text!r} is already in the queue")
    item = _set_fields(text, {"tags": tags, "platforms": platforms, "not_before": not_before, "notes": notes})
    at = len(entries) if position is None else max(0, min(len(entries), position - 1))
    entries.insert(at, _Entry(item, "", "", None))
    _attach(seq, entries, *ends)
    _save(path, y, seq, timezone, max_chars, known_platforms)
    return text


@_serialized
def edit(path: Path, ref: str, changes: dict[str, Any], timezone: str = topics.DEFAULT_TZ,
         max_chars: int = topics.MAX_TOPIC_CHARS,
        known_platforms: list[str] | None = None) -> str:
    """Change fields of one topic (None removes a field), keeping its comments. Returns its topic text."""
    seq, y, entries, ends = _entries(path)
    i = find(entries, ref)
    if "topic" in changes and changes["topic"] is not None:
        try:
            changes = {**changes, "topic": topics.normalize(changes["topic"], max_chars)}
        except ValueError as exc:
            raise InputError(str(exc)) from None
        new_id = topics.topic_id(changes["topic"])
        if any(j != i and topics.topic_id(_text_of(e.item)) == new_id for j, e in enumerate(entries)):
            raise InputError(f"{path}: the topic {changes['topic']!r} is already in the queue")
    entries[i].item = _set_fields(entries[i].item, changes)
    _attach(seq, entries, *ends)
    _save(path, y, seq, timezone, max_chars, known_platforms)
    return _text_of(entries[i].item)


@_serialized
def move(path: Path, ref: str, to: int, timezone: str = topics.DEFAULT_TZ,
         max_chars: int = topics.MAX_TOPIC_CHARS,
        known_platforms: list[str] | None = None) -> str:
    """Move one topic to 1-based position `to` (clamped to the queue), its comments with it."""
    seq, y, entries, ends = _entries(path)
    e = entries.pop(find(entries, ref))
    entries.insert(max(0, min(len(entries), to - 1)), e)
    _attach(seq, entries, *ends)
    _save(path, y, seq, timezone, max_chars, known_platforms)
    return _text_of(e.item)


@_serialized
def remove(path: Path, ref: str, timezone: str = topics.DEFAULT_TZ, max_chars: int = topics.MAX_TOPIC_CHARS,
        known_platforms: list[str] | None = None) -> str:
    """Take one topic (and the comment lines just above it) out of the file. Returns its topic text."""
    seq, y, entries, ends = _entries(path)
    e = entries.pop(find(entries, ref))
    _attach(seq, entries, *ends)
    _save(path, y, seq, timezone, max_chars, known_platforms)
    return _text_of(e.item)


def resolve(path: Path, ref: str) -> str:
    """The topic text of a position, id or text in the file (for commands that act on the queue's state)."""
    _seq, _y, entries, _t = _entries(path)
    return _text_of(entries[find(entries, ref)].item)


def skip(db: Any, path: Path, ref: str, undo: bool = False, timezone: str = topics.DEFAULT_TZ,
         max_chars: int = topics.MAX_TOPIC_CHARS,
        known_platforms: list[str] | None = None) -> str:
    """Leave a topic in the file but out of the queue (state `skipped`), or queue it again (`undo`). The file is
    not changed: the state lives in the store. Returns the topic text."""
    topics.sync(db, path, timezone, max_chars, known_platforms)
    text = resolve(path, ref)
    row = topics.get(db, topics.topic_id(text))
    want, allowed = ("queued", ("skipped",)) if undo else ("skipped", ("queued", "failed"))
    if row is None or row["state"] not in allowed:
        state = row["state"] if row else "unknown"
        raise InputError(f"the topic is {state}; only a {' or '.join(allowed)} topic can be "
                         f"{'queued again' if undo else 'skipped'}")
    topics.set_state(db, row["id"], want)
    return text
