#!/usr/bin/env python3
"""Validates an extracted PDPA archive against the draft's JSON Schemas (Fixtures/pdpa).

  pdpa_check.py SCHEMA_DIR ARCHIVE_DIR

Prints one JSON object: {"errors": [...], "messages": [[folder, sha256, [flags…]], …],
"counts": {"folders": n, "contacts": n, "events": n}}; exits 1 when there are errors.
"""
import hashlib, json, os, sys
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

schemas, root = sys.argv[1], sys.argv[2]
load = lambda name: json.load(open(os.path.join(schemas, name)))
contact = load("contact-schema.json")
registry = Registry().with_resource(contact["$id"], Resource.from_contents(contact))
def validator(schema):
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
archive_schema = load("archive-schema.json")
checks = {"folder": validator(load("folder-schema.json")), "event": validator(load("event-schema.json")),
          "contact": validator(load("pdpa-contact-schema.json"))}
errors, messages, counts = [], [], {"folders": 0, "contacts": 0, "events": 0}

def check(kind, path, value):
    for e in checks[kind].iter_errors(value):
        errors.append("%s: %s at %s" % (path, e.message, "/".join(map(str, e.absolute_path))))

meta = json.load(open(os.path.join(root, "archive.json")))
for e in validator(archive_schema).iter_errors(meta):
    errors.append("archive.json: " + e.message)
for section in ("archive", "dataset", "datasource"):
    for e in validator(dict(archive_schema[section], **{"$schema": archive_schema["$schema"]})).iter_errors(meta.get(section)):
        errors.append("archive.json %s: %s" % (section, e.message))

for dirpath, _, files in os.walk(root):
    rel = os.path.relpath(dirpath, root)
    for f in sorted(files):
        path = os.path.join(dirpath, f)
        if rel.split(os.sep)[0] == "mail" and f == "folder.json":
            folder = json.load(open(path))
            check("folder", path, folder)
            counts["folders"] += 1
            for uid, name in folder.get("uids", {}).items():
                eml = os.path.join(dirpath, name)
                if not os.path.exists(eml):
                    errors.append("%s: uid %s names %s, which is not there" % (path, uid, name))
                    continue
                sha = hashlib.sha256(open(eml, "rb").read()).hexdigest()
                messages.append([os.path.relpath(dirpath, os.path.join(root, "mail")), sha, sorted(folder["flags"].get(uid, []))])
            if folder.get("last_uid", 0) < max([int(u) for u in folder.get("uids", {})] or [0]):
                errors.append("%s: last_uid below a uid" % path)
        elif rel.split(os.sep)[0] == "contacts" and f.endswith(".json"):
            check("contact", path, json.load(open(path)))
            counts["contacts"] += 1
        elif rel.split(os.sep)[0] == "calendars" and f.endswith(".json"):
            check("event", path, json.load(open(path)))
            counts["events"] += 1
print(json.dumps({"errors": errors, "messages": messages, "counts": counts}))
sys.exit(1 if errors else 0)
