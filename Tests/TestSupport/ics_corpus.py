#!/usr/bin/env python3
"""Turns real-world .ics files into CalDAV resources: one per UID, as a calendar server stores them.

  ics_corpus.py source                  prints the corpus's directories, one per line: the test
                                        calendars of the installed `icalendar` package and of khal
                                        0.11.3 (both pinned by install-deps), gathered from their
                                        users' bug reports and client exports
  ics_corpus.py split OUTDIR FILE...    writes OUTDIR/<name>.ics per UID and prints a JSON list of
                                        {"name", "uid", "source"}

The text is cut, never re-serialised: each resource holds the file's VTIMEZONEs and the VEVENTs of
one UID exactly as written (line ends made CRLF). METHOD is left out (a stored resource has none),
a VEVENT without a UID gets one (`jmirror-corpus-<name>`), as a server needs one, and a UID an
earlier file already used gets `-jmirror-<n>` appended (a server keeps one event per UID).
"""
import functools
import json
import os
import re
import sys


KHAL = os.environ.get("JMIRROR_KHAL_CORPUS", "/opt/jmirror-test/corpus/khal-0.11.3")


@functools.cache
def sources():
    import icalendar
    dirs = [os.path.join(os.path.dirname(icalendar.__file__), "tests"), KHAL]
    for d in dirs:
        if not os.path.isdir(d):
            sys.exit(f"ics_corpus.py: {d} is missing (run contrib/install-deps.sh)")
    return dirs


def label(path):
    for d in sources():
        if path.startswith(d + "/"):
            return os.path.basename(d) + "/" + os.path.relpath(path, d)
    return path


def blocks(lines):
    """Top-level components inside each VCALENDAR: (name, lines), plus the calendar's properties."""
    out, props, depth, current = [], [], 0, None
    for line in lines:
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2:
                current = (upper[6:].strip(), [])
        if depth >= 2 and current is not None:
            current[1].append(line)
        elif depth == 1 and not upper.startswith("BEGIN:") and not upper.startswith(" ") and not upper.startswith("\t"):
            props.append(line)
        if upper.startswith("END:"):
            if depth == 2 and current is not None:
                out.append(current)
                current = None
            depth -= 1
    return out, props


def uid_of(event):
    unfolded = re.sub(r"\r?\n[ \t]", "", "\n".join(event))
    depth = 0
    for line in unfolded.split("\n"):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 1 and (upper.startswith("UID:") or upper.startswith("UID;")):
            return line.split(":", 1)[1].strip()
    return None


def with_uid(event, uid):
    """The VEVENT's lines with its own UID property (folded or not) replaced."""
    out, depth, skipping = [], 0, False
    for line in event:
        upper = line.upper()
        if skipping and line[:1] in (" ", "\t"):
            continue
        skipping = False
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 1 and (upper.startswith("UID:") or upper.startswith("UID;")):
            out.append("UID:" + uid)
            skipping = True
            continue
        out.append(line)
    return out


def split(outdir, files):
    listing = []
    seen = {}
    for path in files:
        corpus = "khal" if label(path).startswith("khal") else "icalendar"
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", corpus + "_" + os.path.splitext(os.path.basename(path))[0])
        text = open(path, "rb").read().decode("utf-8", errors="replace").lstrip("\ufeff")
        comps, props = blocks(text.splitlines())
        zones = [c for c in comps if c[0] == "VTIMEZONE"]
        by_uid = {}
        for n, (name, lines) in enumerate(c for c in comps if c[0] == "VEVENT"):
            uid = uid_of(lines)
            if uid is None:
                uid = f"jmirror-corpus-{stem}-{n}"
                lines = [lines[0], "UID:" + uid] + lines[1:]
            by_uid.setdefault(uid, []).append(lines)
        for i, (uid, events) in enumerate(list(by_uid.items())):
            n = seen.get(uid, 0)
            seen[uid] = n + 1
            if n:
                uid, events = f"{uid}-jmirror-{n}", [with_uid(e, f"{uid}-jmirror-{n}") for e in events]
            name = f"{stem}-{i}"
            prodid = [p for p in props if p.upper().startswith("PRODID")] or ["PRODID:-//jmirror corpus//EN"]
            out = ["BEGIN:VCALENDAR", "VERSION:2.0", prodid[0]]
            for _, lines in zones:
                out += lines
            for lines in events:
                out += lines
            out.append("END:VCALENDAR")
            with open(os.path.join(outdir, name + ".ics"), "w", encoding="utf-8", newline="") as f:
                f.write("\r\n".join(out) + "\r\n")
            listing.append({"name": name, "uid": uid, "source": label(path)})
    print(json.dumps(listing))


if __name__ == "__main__":
    if sys.argv[1] == "source":
        print("\n".join(sources()))
    else:
        split(sys.argv[2], sys.argv[3:])
