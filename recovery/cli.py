"""``konbini-ops``: sync the replica, watch status, enrol kiosks, check the audit chain.

Talks to the running server's ``/ops/api`` with the ops token from the data folder
(``var/secrets/ops-token``) or ``$KONBINI_OPS_TOKEN``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from issuance_server.secrets_store import read_ops_token, write_private
from issuance_server.settings import settings_or_exit
from recovery.haproxy import Node, front_config, haproxy_config
from wire.cli import CommandParser, http_url, run_command
from wire.files import OutputError, writable_folder
from wire.http_json import HttpError, JsonClient, server_ca_context
from wire.kiosk_api import Mode
from wire.progress import Progress
from wire.serving import is_any_address
from wire.staff_session import StaffLoginError, staff_session
from wire.tls import key_pem, kiosk_key_request

CLOCK_STEP_WARN_S = 2.0  # beyond NTP's slewing: someone or something stepped the clock


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1" if is_any_address(host) else host, port)) == 0


def _client(args: argparse.Namespace) -> JsonClient:
    settings = settings_or_exit("konbini-ops", args.config, data_dir=args.data_dir)
    server = args.server or settings.server_url
    context = server_ca_context(server, settings.tls_dir / "city-ca.crt")
    client = JsonClient(server, {}, timeout_s=30, ssl_context=context)
    if args.staff_id:  # act as yourself (a staff member with the ops role), as the audit trail will show
        return staff_session(client, args.staff_id, "ops-cli")
    token = os.environ.get("KONBINI_OPS_TOKEN") or read_ops_token(settings.data_dir)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def cmd_sync(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        client.call("POST", "/ops/api/sync/full")
    except HttpError as exc:
        if exc.status != 409:
            raise
        print("a full sync is already running; following it", file=sys.stderr)
    shown = Progress("sync", "records")
    while True:
        progress = client.call("GET", "/ops/api/sync")
        shown.update_to(progress["records"], progress.get("expected"))
        if progress["state"] != "running":
            break
        time.sleep(0.1)
    shown.close()
    if progress["state"] == "done":
        print(
            f"sync done: {progress['records']:,} records, registry seq {progress['seq']}, {progress['seconds']} s"
            f" {progress['timings']}"
        )
        return 0
    print(f"sync FAILED: {progress['error']}; the previous replica is unchanged", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    status = _client(args).call("GET", "/ops/api/status")
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0
    rep, mode, link = status["replica"], status["mode"], status["link"]
    print(
        f"mode            {mode['mode']} ({'by hand' if mode['manual'] else 'automatic'}) since {mode['since']}"
    )
    print(f"why             {mode['reason']}")
    if link.get("last_resync"):
        print(f"last resync     {link['last_resync']['at']}: {link['last_resync']['reason']}")
    print(
        f"breaker         {link['breaker']['state']} (failures {link['breaker']['consecutive_failures']},"
        f" cool-down {link['breaker']['cooldown_s']} s)"
    )
    print(
        f"feed            replica seq {link['replica_seq']} / registry seq {link['registry_seq']}"
        f" (lag {link['seq_lag']} changes, p99 {link['lag_s_p99']} s)"
    )
    print(f"replica age     {link['replica_age_s']} s (confirmed at {link['confirmed_at']})")
    print(f"replica         {rep.get('replica_file') or 'not loaded'}")
    print(
        f"last full sync  {rep.get('last_full_sync_at') or 'never'} at registry seq {rep.get('replica_seq')}"
        f" (data as of {rep.get('replica_as_of')})"
    )
    print(f"last error      {rep.get('last_error') or '-'}")
    print(f"kiosk sessions  {status['open_kiosk_sessions']}")
    step = float(status.get("clock_step_s") or 0)
    if abs(step) > CLOCK_STEP_WARN_S:
        print(
            f"clock           stepped {step:+.1f} s since this node started: its kiosk sessions count on the"
            " clock it started with; restart it (drain it first) once the clock is right"
        )
    doubts = status.get("prints_in_doubt") or {"count": 0}
    if doubts["count"]:
        print(
            f"prints in doubt {doubts['count']} (the oldest since {doubts['oldest_since']}): a kiosk's printer"
        )
    serving = "draining (konbini-ops drain --undo)" if status["draining"] else "serving"
    holds = ", holds the registry lease" if link.get("lease_held") else ""
    print(f"this node       {status.get('node', '-')}: {serving}{holds}")
    for line in cluster_lines(status.get("cluster") or {}):
        print(line)
    return 0


def cluster_lines(cluster: dict[str, Any]) -> list[str]:
    """The registry lease's holder and every node of the database, as ``konbini-ops status`` prints them."""
    lease = cluster.get("lease") or {}
    lines = [
        f"registry lease  {lease.get('holder') or 'nobody yet'} (token {lease.get('token')}, since"
        f" {lease.get('since') or '-'})"
    ]
    for node in cluster.get("nodes", []):
        seen = "alive" if node["alive"] else f"not seen for {node['seen_s_ago']} s"
        marks = (", draining" if node["draining"] else "") + (", lease holder" if node["holds_lease"] else "")
        lines.append(f"node            {node['node']}: {seen}{marks}, schema {node['schema']}")
    return lines


def cmd_mode(args: argparse.Namespace) -> int:
    client = _client(args)
    result = client.call("POST", "/ops/api/mode", {"mode": args.mode, "reason": args.reason})
    mode = result["mode"]
    deadline = time.monotonic() + args.wait
    if args.mode == Mode.NORMAL and mode["mode"] != Mode.NORMAL:  # released: the server catches up first
        print(f"released; {mode['reason']} ...", file=sys.stderr, flush=True)
        while mode["mode"] != Mode.NORMAL and time.monotonic() < deadline:
            time.sleep(0.5)
            mode = client.call("GET", "/ops/api/status")["mode"]
        if mode["mode"] != Mode.NORMAL:
            print(
                f"still {mode['mode']} after {args.wait:g} s: {mode['reason']} (see konbini-ops status)",
                file=sys.stderr,
            )
            return 1
    how = "by hand, until released with 'konbini-ops mode normal'" if mode["manual"] else "automatic"
    print(f"mode {mode['mode']} ({how}) since {mode['since']}: {mode['reason']}")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    """Take the node at --server out of the load balancer (or back in with --undo)."""
    result = _client(args).call("POST", "/ops/api/drain", {"draining": not args.undo})
    if result["draining"]:
        print(
            "draining: /healthz answers 503, so HAProxy sends this node nothing new after two checks (~2 s);"
            " requests in progress finish. Stop it once `konbini-ops status` shows no open kiosk sessions."
        )
    else:
        print("serving: /healthz answers 200 again; HAProxy sends this node requests after two checks (~2 s)")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    items = _client(args).call("GET", "/ops/api/reconcile" + (f"?since={args.since}" if args.since else ""))[
        "items"
    ]
    rows = [
        (i["serial"], i["kind"], i["channel"], i["issued_at"], i["data_as_of"], c["record"], c["change"],
         " ".join(c["fields"]))
        for i in items for c in i["changes"]
    ]  # fmt: skip
    header = ("serial", "kind", "channel", "issued_at", "data_as_of", "record", "change", "fields")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    print(
        f"{len(items)} certificate(s) issued in recovery mode printed records that changed since"
        + (f"; CSV in {args.csv}" if args.csv else "")
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    client = _client(args)
    client.timeout_s = 600
    result = client.call("POST", "/ops/api/consistency", {"repair": args.repair})
    for rtype, reg in result["registry"].items():
        rep = result["replica"][rtype]
        same = "ok" if reg == rep else "MISMATCH"
        print(
            f"{rtype:10} registry {reg['count']:>9,} {reg['checksum']}  replica {rep['count']:>9,} {rep['checksum']}  {same}"
        )
    if result["consistent"]:
        print(f"replica consistent with the registry at seq {result['seq']}")
        return 0
    print(
        f"replica INCONSISTENT at seq {result['seq']}: {', '.join(result['mismatched']) or 'sequence'}"
        + ("; repaired by a full resync" if result["repaired"] else "; run with --repair to resync")
    )
    return 0 if result["repaired"] else 1


def cmd_kiosk_add(args: argparse.Namespace) -> int:
    """The kiosk's key is made here and never sent; the server's kiosk CA signs a certificate for it."""
    client = _client(args)
    out: Path = args.out or Path("var/kiosks") / f"{args.kiosk_id}.json"
    writable_folder(out.parent)  # before the server signs anything: a certificate is never lost
    key, csr = kiosk_key_request(args.kiosk_id)
    result = client.call(
        "POST", "/ops/api/kiosks", {"kiosk_id": args.kiosk_id, "location": args.location, "csr": csr}
    )
    stem = out.with_suffix("")
    files = {
        stem.with_name(f"{stem.name}.key"): key_pem(key),
        stem.with_name(f"{stem.name}.crt"): result["certificate"].encode(),
        stem.with_name(f"{stem.name}.server-ca.crt"): result["server_ca"].encode(),
        stem.with_name(f"{stem.name}.issuing-key.pem"): result["issuing_key"].encode(),
    }
    paths = list(files)
    creds = {
        "kiosk_id": result["kiosk_id"],
        "server": client.base_url,
        "client_key": paths[0].name,
        "client_cert": paths[1].name,
        "server_ca": paths[2].name,
        "issuing_key": paths[3].name,  # the city's public key: the print guard checks every sheet against it
    }
    files[out] = json.dumps(creds, indent=2).encode()
    for path, data in files.items():
        path.unlink(missing_ok=True)  # re-enrolment: the old certificate no longer works anyway
        write_private(path, data)
    print(
        f"kiosk {args.kiosk_id} enrolled; certificate valid until {result['not_after']}; credentials in {out}"
        f" (with {', '.join(p.name for p in paths)}; mode 0600)"
    )
    return 0


def cmd_kiosk_remove(args: argparse.Namespace) -> int:
    result = _client(args).call("DELETE", f"/ops/api/kiosks/{args.kiosk_id}")
    print(
        f"kiosk {args.kiosk_id} removed: its certificate is refused from now on"
        f" ({result['sessions_ended']} open session(s) ended)"
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    client = _client(args)
    client.timeout_s = 3600
    made = client.call("POST", "/ops/api/backups")
    counts = ", ".join(f"{n:,} {t}" for t, n in made["counts"].items())
    print(
        f"backup {made['backup']} proven: integrity {made['integrity']}, audit trail intact"
        f" ({made['audit']['rows']} rows), {counts}"
    )
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    found = _client(args).call("GET", "/ops/api/backups")["backups"]
    for b in found:
        print(
            f"{b['backup']}  {'proven' if b['proven'] else 'NOT PROVEN'}  {b['counts']['issuances']:,} issuances"
        )
    print(f"{len(found)} backup(s)")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Offline: bring the database to this code's schema (PostgreSQL; SQLite also migrates at start)."""
    from issuance_server.storage.engines import migrate  # the server's storage code: only this command

    settings = settings_or_exit("konbini-ops", args.config, data_dir=args.data_dir)
    engine, applied, schema = migrate(settings)
    done = f"applied {', '.join(applied)}" if applied else "nothing to apply"
    print(f"migrate ({engine}): {done}; the database is at schema {schema}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Offline: the server must be stopped (its database is replaced)."""
    # Imported here: the server's audit and backup code is most of a start-up the other commands skip.
    from issuance_server.audit.trail import Actor
    from issuance_server.backups.backup import BACKUP_FAILURES, restore

    settings = settings_or_exit("konbini-ops", args.config, data_dir=args.data_dir)
    url = urllib.parse.urlsplit(args.server or settings.server_url)
    if port_open(url.hostname or "127.0.0.1", url.port or settings.port):
        print(f"error: a server answers on {url.geturl()}: stop it before restoring", file=sys.stderr)
        return 1
    try:
        result = restore(settings, args.backup, Actor("ops", "konbini-ops restore", "ops"))
    except BACKUP_FAILURES as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    audit = result["audit"]
    print(
        f"restored {result['restored']}: {result['counts']['issuances']:,} issuances; audit trail"
        f" {'intact' if audit['intact'] else 'BROKEN: ' + str(audit['problem'])} ({audit['rows']} rows,"
        " the restore recorded); start the server, then konbini-ops sync"
    )
    return 0 if audit["intact"] else 1


def cmd_staff_unlock(args: argparse.Namespace) -> int:
    _client(args).call("POST", f"/ops/api/staff/{args.locked_staff_id}/unlock")
    print(f"staff account {args.locked_staff_id} unlocked; its failed logins are cleared")
    return 0


def cmd_kiosks(args: argparse.Namespace) -> int:
    kiosks = _client(args).call("GET", "/ops/api/kiosks")["kiosks"]
    for k in kiosks:
        state = (
            f"certificate until {k['cert_not_after']}" if k["active"] else f"removed {k['removed_at'] or ''}"
        )
        print(
            f"{k['kiosk_id']:20} {'active ' if k['active'] else 'removed'} {state}  {k['location']}".rstrip()
        )
    print(f"{len(kiosks)} kiosk(s)")
    return 0


def _as_staff(args: argparse.Namespace, what: str) -> JsonClient:
    """Actions a named person must take (the shared ops token cannot): --staff-id is required."""
    if not args.staff_id:
        raise StaffLoginError(f"{what} is done by a named staff member: add --staff-id ID")
    return _client(args)


def cmd_audit_report(args: argparse.Namespace) -> int:
    """The month's review: a summary here, the PDF with charts with --pdf."""
    client = _client(args)
    query = urllib.parse.urlencode({"month": args.month})
    figures = client.call("GET", f"/ops/api/audit/review?{query}")
    issued, failed = figures["issuances"], figures["failed_logins"]
    print(
        f"{args.month}: {figures['rows']:,} audit rows; issuances {issued['total']:,}"
        f" ({', '.join(f'{c} {n:,}' for c, n in issued['by_channel'].items()) or 'none'}); failed logins"
        f" {failed['total']} ({failed['lockouts']} lockouts); PIN locks {figures['pin_locks']['total']};"
        f" print guard alarms {figures['print_guard']['total']}; voids {figures['voids']['total']}; refunds {figures['refunds']['total']} ({figures['refunds']['yen']:,}"
        f" yen); mode switches {len(figures['mode_switches'])}"
    )
    for a in figures["anomalies"]:
        print(f"  anomaly {a['rule']}: {a['what']} (audit rows {', '.join(map(str, a['seqs'][:10]))})")
    reviewed = figures["reviewed"]
    print(
        f"reviewed by {reviewed['reviewed_by']} at {reviewed['reviewed_at']}"
        if reviewed
        else "not reviewed yet"
    )
    if args.pdf:
        writable_folder(args.pdf.parent)
        args.pdf.write_bytes(client.fetch(f"/ops/api/audit/review?{query}&format=pdf"))
        print(f"report: {args.pdf}")
    return 0


def cmd_audit_reviewed(args: argparse.Namespace) -> int:
    done = _as_staff(args, "marking a month reviewed").call(
        "POST", "/clerk/api/audit/reviews", {"month": args.month, "comment": args.comment}
    )
    print(f"{done['month']} reviewed by {done['reviewed_by']} at {done['reviewed_at']}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    made = _as_staff(args, "a purge request").call(
        "POST", "/clerk/api/purges", {"before": args.before, "reason": args.reason}
    )
    print(
        f"purge {made['purge_id']} requested (records before {made['before']}); nothing is erased until an"
        f" administrator other than you runs: konbini-ops --staff-id ID purge-approve {made['purge_id']}"
    )
    return 0


def cmd_purge_approve(args: argparse.Namespace) -> int:
    done = _as_staff(args, "approving a purge").call("POST", f"/clerk/api/purges/{args.purge_id}/approve")
    erased = done["erased"]
    print(
        f"purge {done['purge_id']} done: {erased['issuances']} issuance records ({erased['serials'] or 'none'}),"
        f" {erased['payments']} payments, the personal field of {erased['audit_rows_erased']} audit rows;"
        f" requested by {done['requested_by']}, approved by {done['approved_by']}"
    )
    return 0


def cmd_purges(args: argparse.Namespace) -> int:
    for p in _as_staff(args, "listing purges").call("GET", "/clerk/api/purges")["purges"]:
        print(
            f"{p['purge_id']}\tbefore {p['before']}\t{p['status']}\trequested by {p['requested_by']}"
            + (f"\tapproved by {p['approved_by']} {p['done_at']}" if p["approved_by"] else "")
        )
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    for t in _client(args).call("GET", "/ops/api/tokens")["tokens"]:
        if t["revoked_at"]:
            state = f"revoked by {t['revoked_by']} {t['revoked_at']}"
        elif not t["works"]:
            state = "not working (expired, or its maker no longer holds the ops role)"
        else:
            state = f"works until {t['expires_at']}" if t["expires_at"] else "works (this machine only)"
        print(f"{t['name']}\tmade by {t['created_by']} {t['created_at']}\t{state}")
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"name": args.name}
    if args.days is not None:
        body["days"] = args.days
    made = _client(args).call("POST", "/ops/api/tokens", body)
    print(
        f"ops token {made['name']}, until {made['expires_at']}, acting for you (it stops when you lose the"
        " ops role); shown once, give it to the automation as KONBINI_OPS_TOKEN:"
    )
    print(made["token"])
    return 0


def cmd_token_rotate_local(args: argparse.Namespace) -> int:
    _client(args).call("POST", "/ops/api/tokens/local/rotate")
    print("local ops token rotated: the new one is in secrets/ops-token (the old one is refused from now on)")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    _client(args).call("DELETE", f"/ops/api/tokens/{args.name}")
    print(f"ops token {args.name} revoked: refused from now on")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    # Imported here: the server's audit code is most of a start-up the other commands skip.
    from issuance_server.audit.verify import PROBLEMS
    from issuance_server.backups.backup import verify_stored

    try:
        result = _client(args).call("GET", "/ops/api/audit/verify")
    except HttpError as exc:
        if exc.status != 0:
            raise
        settings = settings_or_exit("konbini-ops", args.config, data_dir=args.data_dir)
        print(f"the server does not answer ({exc.message}); checking its files in {settings.data_dir}")
        report = verify_stored(settings)
        result = report.as_json()
    for seen in result["acknowledged"]:
        where = f"seq {seen['seq']}" if seen.get("seq") is not None else f"checkpoint line {seen.get('line')}"
        print(
            f"acknowledged by ops at {seen['at']}: {PROBLEMS.get(seen['problem'], seen['problem'])} ({where})"
        )
    last = result["last_checkpoint"]
    if last:  # to compare with the copy in the server's log kept off this machine
        print(f"last checkpoint: line {last['line']} ({last['event']}) seq {last['seq']} head {last['head']}")
    if result["intact"]:
        print(
            f"audit trail intact: {result['rows']} rows, keyed chain holds, {result['checkpoints']} signed"
            f" checkpoints agree ({result['erased_subjects']} subjects erased by purges)"
        )
        return 0
    what = PROBLEMS.get(result["problem"], result["problem"])
    where = f"seq {result['first_broken_seq']}"
    if result.get("checkpoint_line"):
        where = f"audit/checkpoints.log line {result['checkpoint_line']}"
    print(f"audit trail BROKEN at {where}: {what}", file=sys.stderr)
    print(
        "kiosks are refused until ops check it and run: konbini-ops audit-acknowledge --reason '...'",
        file=sys.stderr,
    )
    return 1


def cmd_audit_acknowledge(args: argparse.Namespace) -> int:
    answer = _client(args).call("POST", "/ops/api/audit/acknowledge", {"reason": args.reason})
    for seen in answer["acknowledged"]:
        print(f"acknowledged: {seen['problem']} (seq {seen['seq']}, checkpoint line {seen['line']})")
    if answer["hold"]:
        print(f"still held: {answer['hold']['what']}", file=sys.stderr)
        return 1
    print("the audit trail goes on from here; kiosks are served again")
    return 0


def _node(text: str) -> Node:
    try:
        return Node.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_haproxy_config(args: argparse.Namespace) -> int:
    """Offline: HAProxy's configuration for the nodes, written 0600 (it holds the proxy secret)."""
    data_dir = args.data_dir or Path("var")
    kiosk_ca = args.kiosk_ca or data_dir / "tls" / "kiosk-ca.crt"
    secret_file = args.proxy_secret_file or data_dir / "secrets" / "proxy-secret"
    for what, path in (("--pem", args.pem), ("--kiosk-ca", kiosk_ca), ("--proxy-secret-file", secret_file)):
        if not path.is_file():
            print(f"error: {what}: no file {path}", file=sys.stderr)
            return 2
    try:
        text = haproxy_config(args.bind, args.pem, kiosk_ca, secret_file.read_text().strip(), args.node)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_private(args.out, text.encode())
    nodes = ", ".join(str(n) for n in args.node)
    print(
        f"wrote {args.out} (mode 0600): TLS on {args.bind}, {len(args.node)} node(s) {nodes} checked on /healthz"
    )
    print(f"check it with: haproxy -c -f {args.out}")
    return 0


def cmd_haproxy_front_config(args: argparse.Namespace) -> int:
    """Offline: the front HAProxy's configuration, TLS passed through to the machines' own HAProxies."""
    city_ca = args.city_ca or (args.data_dir or Path("var")) / "tls" / "city-ca.crt"
    if not city_ca.is_file():
        print(f"error: --city-ca: no file {city_ca}", file=sys.stderr)
        return 2
    try:
        text = front_config(args.bind, args.machine, city_ca)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_private(args.out, text.encode())
    machines = ", ".join(str(m) for m in args.machine)
    print(f"wrote {args.out}: TLS passed through on {args.bind} to {len(args.machine)} machine(s) {machines}")
    print(f"check it with: haproxy -c -f {args.out}")
    return 0


def cmd_cluster_init(args: argparse.Namespace) -> int:
    """Offline: the keys of a cluster of nodes, made once into a folder for the operator to copy to each node."""
    import dataclasses

    from issuance_server.certificates import pades  # the server's key-making code: only this command
    from issuance_server.cluster.keys import fingerprint, strip_node_own
    from issuance_server.secrets_store import load_or_create_secrets
    from issuance_server.server_tls import ensure_server_tls

    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        print(
            f"error: {out} is not empty: cluster-init makes new keys only into a new folder", file=sys.stderr
        )
        return 2
    settings = dataclasses.replace(settings_or_exit("konbini-ops", args.config), data_dir=out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    load_or_create_secrets(out)
    pades.create_signing_identity(settings.secrets_dir, out / "keys", settings.municipality_name)
    ensure_server_tls(settings)
    strip_node_own(out)
    print(
        f"made the cluster's keys in {out} (files 0600), fingerprint {fingerprint(settings.secrets_dir, settings.tls_dir)[:12]}"
    )
    print(
        f"copy its secrets/, keys/ and tls/ folders into every node's data folder (e.g. rsync -a {out}/ NODE:/var/lib/konbini/)"
    )
    print(
        "each node makes its own ops token and TLS server certificate (from the city CA) at its first start"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-ops", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="the server's TOML settings file (default: $KONBINI_CONFIG)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="the server's data folder, for its ops token and CA (default: var)"
    )
    parser.add_argument("--server", type=http_url, help="server URL (default: from settings)")
    parser.add_argument(
        "--staff-id",
        help="act as this staff member (ops role; password from $KONBINI_STAFF_PASSWORD or a prompt) instead"
        " of with the shared ops token",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sync", help="full snapshot sync from the main registry (all or nothing)")
    p.add_argument(
        "--full", action="store_true", help="a full snapshot sync (the only kind; may be left out)"
    )
    p.set_defaults(func=cmd_sync)
    p = sub.add_parser(
        "migrate", help="apply the database's numbered migrations (PostgreSQL: before starting new code)"
    )
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser(
        "haproxy-config", help="HAProxy's configuration for TLS in front of the server's nodes (offline)"
    )
    p.add_argument(
        "--node", type=_node, action="append", required=True, metavar="HOST:PORT",
        help="a node's plain_http listener (repeat for each node)",
    )  # fmt: skip
    p.add_argument(
        "--bind", default="0.0.0.0:8443", help="HAProxy's TLS address and port for kiosks and staff"
    )
    p.add_argument(
        "--pem", type=Path, required=True, help="the server certificate and its key in one PEM file"
    )
    p.add_argument("--kiosk-ca", type=Path, help="the kiosk CA (default: <data dir>/tls/kiosk-ca.crt)")
    p.add_argument(
        "--proxy-secret-file",
        type=Path,
        help="the cluster's proxy secret (default: <data dir>/secrets/proxy-secret)",
    )
    p.add_argument("--out", type=Path, required=True, help="the configuration file to write (mode 0600)")
    p.set_defaults(func=cmd_haproxy_config)
    p = sub.add_parser(
        "haproxy-front-config",
        help="the front HAProxy's configuration for nodes on several machines: TLS passed through (offline)",
    )
    p.add_argument(
        "--machine", type=_node, action="append", required=True, metavar="HOST:PORT",
        help="a machine's own HAProxy (its TLS port; repeat for each machine)",
    )  # fmt: skip
    p.add_argument("--bind", default="0.0.0.0:443", help="the front's address and port for kiosks and staff")
    p.add_argument("--city-ca", type=Path, help="the city CA (default: <data dir>/tls/city-ca.crt)")
    p.add_argument("--out", type=Path, required=True, help="the configuration file to write")
    p.set_defaults(func=cmd_haproxy_front_config)
    p = sub.add_parser(
        "cluster-init",
        help="make the keys of a cluster of nodes once, into a new folder to copy to each node",
    )
    p.add_argument("--out", type=Path, required=True, help="a new folder for the keys (mode 0700)")
    p.set_defaults(func=cmd_cluster_init)
    p = sub.add_parser("drain", help="take the node at --server out of the load balancer (/healthz 503)")
    p.add_argument("--undo", action="store_true", help="put it back in")
    p.set_defaults(func=cmd_drain)
    p = sub.add_parser("status", help="mode, replica age, last sync")
    p.add_argument("--json", action="store_true", help="the whole status as JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "kiosk-add",
        help="enrol (or re-key) a kiosk: its key, a certificate from the kiosk CA, its credentials",
    )
    p.add_argument("kiosk_id", help="the kiosk's id: 1-40 letters, digits or '-'")
    p.add_argument("--location", default="", help="where the kiosk stands, e.g. the store's name")
    p.add_argument("--out", type=Path, help="credentials file (default var/kiosks/<kiosk_id>.json)")
    p.set_defaults(func=cmd_kiosk_add)
    p = sub.add_parser(
        "kiosk-remove", help="refuse a kiosk's certificate from now on (a stolen or retired kiosk)"
    )
    p.add_argument("kiosk_id", help="the kiosk's id")
    p.set_defaults(func=cmd_kiosk_remove)
    p = sub.add_parser("backup", help="take a backup now and prove it by a restore check (also daily)")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("backups", help="list the backups kept")
    p.set_defaults(func=cmd_backups)
    p = sub.add_parser("restore", help="bring a backup back (server stopped); recorded in the audit trail")
    p.add_argument("backup", help="the backup's name, as konbini-ops backups lists it")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("staff-unlock", help="lift a staff account's lockout after too many failed logins")
    p.add_argument("locked_staff_id", metavar="STAFF_ID", help="the locked staff member's id")
    p.set_defaults(func=cmd_staff_unlock)
    p = sub.add_parser("kiosks", help="list enrolled and removed kiosks")
    p.set_defaults(func=cmd_kiosks)
    p = sub.add_parser("mode", help="switch mode by hand (recovery/maintenance stay until 'mode normal')")
    p.add_argument("mode", choices=[m.value for m in Mode], help="normal releases a mode held by hand")
    p.add_argument(
        "--reason", default="", help="why (required for recovery and maintenance; in the audit log)"
    )
    p.add_argument(
        "--wait", type=float, default=60.0, help="mode normal: seconds to wait for the server to catch up"
    )
    p.set_defaults(func=cmd_mode)
    p = sub.add_parser(
        "reconcile", help="certificates issued in recovery whose records changed upstream since"
    )
    p.add_argument("--since", help="only those issued at or after this ISO time")
    p.add_argument("--csv", type=Path, help="also write the report as CSV")
    p.set_defaults(func=cmd_reconcile)
    p = sub.add_parser("check", help="compare the replica with the registry (counts and checksums per table)")
    p.add_argument("--repair", action="store_true", help="resync when they differ")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("audit-report", help="the month's review of the operation logs (ops or role auditor)")
    p.add_argument("--month", required=True, help="YYYY-MM (Japan time)")
    p.add_argument("--pdf", type=Path, help="also write the report with charts as this PDF file")
    p.set_defaults(func=cmd_audit_report)
    p = sub.add_parser("audit-reviewed", help="record a month's review as done (role auditor, --staff-id)")
    p.add_argument("--month", required=True, help="YYYY-MM (Japan time)")
    p.add_argument("--comment", required=True, help="what you checked and found")
    p.set_defaults(func=cmd_audit_reviewed)
    p = sub.add_parser("purge", help="request a purge of records past retention (role ops, --staff-id)")
    p.add_argument(
        "--before", required=True, help="YYYY-MM-DD: records of earlier days (past retention_days)"
    )
    p.add_argument("--reason", required=True, help="why (kept with the purge)")
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser("purge-approve", help="approve and carry out a purge (role admin, not the requester)")
    p.add_argument("purge_id", type=int, help="the request's number (konbini-ops purges)")
    p.set_defaults(func=cmd_purge_approve)
    p = sub.add_parser("purges", help="purge requests and what each erased (role ops, --staff-id)")
    p.set_defaults(func=cmd_purges)
    p = sub.add_parser("tokens", help="the named ops tokens for automation")
    p.set_defaults(func=cmd_tokens)
    p = sub.add_parser("token-add", help="a new named ops token for automation, printed once")
    p.add_argument("name", help="its name in the audit trail (lower-case letters, digits, '-')")
    p.add_argument("--days", type=int, help="how long it works (default and most: ops_token_days, 90)")
    p.set_defaults(func=cmd_token_add)
    p = sub.add_parser(
        "token-rotate-local",
        help="replace the server machine's own token (secrets/ops-token), on that machine",
    )
    p.set_defaults(func=cmd_token_rotate_local)
    p = sub.add_parser("token-revoke", help="revoke an ops token (local: the server machine's own)")
    p.add_argument("name", help="the token's name (konbini-ops tokens lists them)")
    p.set_defaults(func=cmd_token_revoke)
    p = sub.add_parser(
        "audit-verify",
        help="check the audit log's keyed chain and its signed checkpoints (the files, if the server is down)",
    )
    p.set_defaults(func=cmd_audit_verify)
    p = sub.add_parser(
        "audit-acknowledge", help="after checking a broken audit trail: record it and serve kiosks again"
    )
    p.add_argument("--reason", required=True, help="what was found and done (10-300 characters)")
    p.set_defaults(func=cmd_audit_acknowledge)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.func(args)
    except HttpError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (FileNotFoundError, OutputError, StaffLoginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
