"""DTR job log lines for people: the level, the message and the fields, from whatever form the
job runner wrote them in, and the error lines surfaced ahead of a log's tail.

Real job logs are logrus text (fidelity-review.md 15, from mbentley/docker-get-dtr-job-logs,
which prints each line's `data` as it is): `time="2019-07-23T10:00:00Z" level=error
msg="failed to migrate blob links" error="context deadline exceeded"`, values quoted only when
they need it (logrus' TextFormatter quotes like Go's strconv.Quote). logrus' JSON formatter
(`{"level": "error", "msg": ...}`) and the terminal form (`ERRO[0003] msg`) are read too;
any other line is shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

__all__ = ["ERROR_LEVELS", "TTY_LEVELS", "level_of", "parse", "readable", "surface_errors"]

ERROR_LEVELS = frozenset({"error", "fatal", "panic"})
# Fields a reader does not need again: the time of the line and what `level: msg` shows.
_SHOWN = frozenset({"time", "level", "msg"})
_PAIR = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|$)')
# logrus' terminal form shortens each level to its first four letters, upper case.
TTY_LEVELS = {
    "TRAC": "trace",
    "DEBU": "debug",
    "INFO": "info",
    "WARN": "warning",
    "ERRO": "error",
    "FATA": "fatal",
    "PANI": "panic",
}
_TTY = re.compile(rf"^\s*({'|'.join(TTY_LEVELS)})\[[^\]]*\]\s?(.*)$")
_LEVEL_WORDS = {"warn": "warning", "err": "error"}


def _unquote(value: str) -> str:
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
        return value
    try:
        text = json.loads(value)
    except ValueError:
        # Go escapes JSON does not know (\x41, \a, \v): keep the text between the quotes.
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text if isinstance(text, str) else value[1:-1]


def _logrus_text(line: str) -> dict[str, str] | None:
    """The fields of one logrus text line, None when the line is not one (it needs `level=`
    or `msg=` and nothing but `key=value` pairs)."""
    fields: dict[str, str] = {}
    position = 0
    text = line.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None:
            return None
        fields[match.group(1)] = _unquote(match.group(2))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return fields if ("level" in fields or "msg" in fields) else None


def parse(line: str) -> dict[str, str] | None:
    """The fields of a structured log line (logrus text, logrus JSON or the terminal form),
    values as text; None for a line in none of these forms."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
            return None
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in data.items()
        }
    tty = _TTY.match(stripped)
    if tty is not None:
        return {"level": TTY_LEVELS[tty.group(1)], "msg": tty.group(2).strip()}
    return _logrus_text(stripped)


def level_of(line: str) -> str | None:
    """The line's level in logrus' words (`error`, `warning`, ...), None when it has none."""
    fields = parse(line)
    if fields is None or "level" not in fields:
        return None
    word = fields["level"].strip().lower()
    return _LEVEL_WORDS.get(word, word)


def readable(line: str) -> str:
    """`level: message (field=value ...)` for a structured line, other lines as they are."""
    fields = parse(line)
    if fields is None:
        return line
    message = fields.get("msg", "")
    level = level_of(line)
    text = f"{level}: {message}" if level else message
    extra = [f"{k}={v}" for k, v in fields.items() if k not in _SHOWN]
    return f"{text} ({', '.join(extra)})" if extra else text


def surface_errors(lines: Sequence[str], tail: int, *, keep: int = 3) -> list[str]:
    """The last `tail` lines made readable, preceded by the last `keep` error lines (level
    error, fatal or panic) that came before the tail, with `...` where lines are left out
    between them."""
    if tail <= 0:
        return []
    first = max(len(lines) - tail, 0)
    picked = [i for i in range(first) if level_of(lines[i]) in ERROR_LEVELS][-keep:]
    shown: list[str] = []
    for position, index in enumerate(picked):
        shown.append(readable(lines[index]))
        following = picked[position + 1] if position + 1 < len(picked) else first
        if following != index + 1:
            shown.append("...")
    return shown + [readable(line) for line in lines[first:]]
