#!/usr/bin/env python3
"""Checks jmirror's vCard and iCalendar files with the parsers khard and khal use.

  pim_check.py parse FILE...          every .vcf parses with vobject, every .ics with icalendar
  pim_check.py compare MIRROR DAV     the two files say the same after normalisation

The normalisation (also in docs/DESIGN.md, "What the rendered files keep"):
- iCalendar: one entry per VEVENT keyed by RECURRENCE-ID. Times become UTC instants (zoned),
  `floating:` local times or `date:` dates, so a zone's VTIMEZONE text does not matter, only
  the instants it gives; a PERIOD becomes its start and end. The end is DTEND, or DTSTART + DURATION. Defaults are filled in (PRIORITY 0,
  SEQUENCE 0, TRANSP OPAQUE, CLASS PUBLIC, PARTSTAT NEEDS-ACTION, ROLE REQ-PARTICIPANT, RSVP FALSE,
  CUTYPE INDIVIDUAL, RRULE INTERVAL 1 and WKST MO). Ignored: DTSTAMP, CREATED, LAST-MODIFIED, PRODID,
  VTIMEZONE, X- properties, and a VALARM's DESCRIPTION, SUMMARY and UID.
- vCard: every property but VERSION, PRODID, REV and X- ones, as (name, value, sorted parameters);
  TYPE values lowercased and split on commas.
Prints the differences and exits 1 when there are any.
"""
import datetime as dt
import sys

import icalendar
import vobject

UTC = dt.timezone.utc


def instant(v):
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            return "floating:" + v.isoformat()
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, dt.date):
        return "date:" + v.isoformat()
    return str(v)


def instants(prop):
    if prop is None:
        return []
    props = prop if isinstance(prop, list) else [prop]
    out = []
    for p in props:
        for d in p.dts:
            v = d.dt
            if isinstance(v, tuple):  # a PERIOD: start/end and start/duration say the same
                start, end = v
                out.append(instant(start) + "/" + instant(start + end if isinstance(end, dt.timedelta) else end))
            else:
                out.append(instant(v))
    return sorted(out)


def rrule(ev):
    r = ev.get("RRULE")
    if r is None:
        return None
    out = {}
    for k, v in r.items():
        vals = v if isinstance(v, list) else [v]
        if k == "UNTIL":
            vals = [instant(x) for x in vals]
        out[k.upper()] = [str(x).upper() for x in vals]
    if out.get("INTERVAL") == ["1"]:
        del out["INTERVAL"]
    if out.get("WKST") == ["MO"]:
        del out["WKST"]
    return sorted(out.items())


def address(v):
    return str(v).lower().replace("mailto:", "mailto:")


def person(p):
    params = p.params
    return (address(p), str(params.get("CN", "")), str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
            str(params.get("ROLE", "REQ-PARTICIPANT")).upper(), str(params.get("RSVP", "FALSE")).upper(),
            str(params.get("CUTYPE", "INDIVIDUAL")).upper())


def alarm(a):
    t = a.get("TRIGGER")
    if t is None:  # invalid, but found in the wild (khal's tests): compared as it is
        return (str(a.get("ACTION", "")).upper(), "", "")
    related = str(t.params.get("RELATED", "START")).upper()
    value = decoded(a, "TRIGGER")
    trig = instant(value) if isinstance(value, (dt.datetime, str)) else str(value.total_seconds())
    return (str(a.get("ACTION", "")).upper(), trig, related)


def text(ev, name, default=""):
    v = ev.get(name)
    return default if v is None else str(v)


def event_key(ev):
    rid = ev.get("RECURRENCE-ID")
    return "main" if rid is None else instant(rid.dt)


def decoded(ev, name):
    """A property's value, None when absent, `invalid:<text>` when it does not parse (an event
    without DTSTART is allowed in iTIP; a converter must not invent one, nor write 00000000)."""
    if ev.get(name) is None:
        return None
    try:
        return ev.decoded(name)
    except Exception:  # noqa: BLE001 - the raw text is what gets compared
        return "invalid:" + str(ev.get(name).to_ical(), "utf-8", "replace")


def normal_event(ev):
    start = decoded(ev, "DTSTART")
    end = decoded(ev, "DTEND")
    duration = decoded(ev, "DURATION")
    if end is None and isinstance(start, dt.date) and isinstance(duration, dt.timedelta):
        end = start + duration
    elif end is None and isinstance(start, dt.date) and duration is None:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    elif end is None and duration is not None:
        end = "duration:" + str(duration)
    atts = ev.get("ATTENDEE")
    atts = [] if atts is None else (atts if isinstance(atts, list) else [atts])
    cats = ev.get("CATEGORIES")
    catset = set()
    for c in ([] if cats is None else (cats if isinstance(cats, list) else [cats])):
        catset.update(str(x) for x in c.cats)
    org = ev.get("ORGANIZER")
    tzid = ev.get("DTSTART").params.get("TZID") if ev.get("DTSTART") is not None else None
    return {
        "UID": text(ev, "UID"),
        "SUMMARY": text(ev, "SUMMARY"),
        "DESCRIPTION": text(ev, "DESCRIPTION"),
        "LOCATION": text(ev, "LOCATION"),
        "STATUS": text(ev, "STATUS").upper(),
        "CLASS": text(ev, "CLASS", "PUBLIC").upper(),
        "TRANSP": text(ev, "TRANSP", "OPAQUE").upper(),
        "PRIORITY": text(ev, "PRIORITY", "0"),
        "SEQUENCE": text(ev, "SEQUENCE", "0"),
        "URL": text(ev, "URL"),
        "TZID": str(tzid) if tzid else "",
        "START": instant(start),
        "END": instant(end),
        "RRULE": rrule(ev),
        "EXDATE": instants(ev.get("EXDATE")),
        "RDATE": instants(ev.get("RDATE")),
        "ORGANIZER": None if org is None else (address(org), str(org.params.get("CN", ""))),
        "ATTENDEE": sorted(person(a) for a in atts),
        "CATEGORIES": sorted(catset),
        "VALARM": sorted(alarm(a) for a in ev.walk("VALARM")),
    }


def normal_ics(path):
    cal = icalendar.Calendar.from_ical(open(path, "rb").read())
    return {event_key(ev): normal_event(ev) for ev in cal.walk("VEVENT")}


APPLE_GROUP = {"X-ADDRESSBOOKSERVER-KIND": "KIND", "X-ADDRESSBOOKSERVER-MEMBER": "MEMBER"}


def normal_vcf(path):
    card = vobject.readOne(open(path, encoding="utf-8").read())
    out = []
    for name, lines in card.contents.items():
        # Apple's vCard 3.0 group properties are vCard 4.0's KIND and MEMBER: compared, not skipped.
        name = APPLE_GROUP.get(name.upper(), name)
        if name.upper() in ("VERSION", "PRODID", "REV") or name.upper().startswith("X-"):
            continue
        for line in lines:
            params = []
            for k, vs in sorted(line.params.items()):
                vals = []
                for v in vs:
                    vals += [x.lower() for x in v.split(",")] if k.upper() == "TYPE" else [v]
                params.append((k.upper(), tuple(sorted(vals))))
            out.append((name.upper(), str(line.value), tuple(params)))
    return sorted(out)


def parse(paths):
    bad = 0
    for p in paths:
        try:
            if p.endswith(".vcf"):
                cards = list(vobject.readComponents(open(p, encoding="utf-8").read()))
                assert len(cards) == 1 and cards[0].name == "VCARD", "not exactly one VCARD"
                assert cards[0].contents.get("fn"), "no FN"
            elif p.endswith(".ics"):
                cal = icalendar.Calendar.from_ical(open(p, "rb").read())
                events = cal.walk("VEVENT")
                assert events, "no VEVENT"
                for ev in events:
                    normal_event(ev)
        except Exception as e:  # noqa: BLE001 - every failure is reported with its file
            print(f"{p}: {type(e).__name__}: {e}")
            bad += 1
    print(f"parsed {len(paths) - bad} of {len(paths)}")
    return 1 if bad else 0


def compare(mirror, dav):
    norm = normal_ics if mirror.endswith(".ics") else normal_vcf
    a, b = norm(mirror), norm(dav)
    if a == b:
        print("same")
        return 0
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            ea, eb = a.get(key, {}), b.get(key, {})
            for prop in sorted(set(ea) | set(eb)):
                if ea.get(prop) != eb.get(prop):
                    print(f"{key} {prop}: mirror {ea.get(prop)!r} dav {eb.get(prop)!r}")
    else:
        for x in sorted(set(a) - set(b)):
            print(f"only in mirror: {x}")
        for x in sorted(set(b) - set(a)):
            print(f"only in dav: {x}")
    return 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "parse":
        sys.exit(parse(sys.argv[2:]))
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    print(__doc__)
    sys.exit(64)
