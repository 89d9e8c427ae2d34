"""CSV import: dry run with a per-row report, all-or-nothing import, re-runs change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.provisioning import audit_actions, make_plan, new_mac, ok, staff, tenant_ref

HEADER = "name,email,plan,phone,status,cpe_mac,billing_start_date,external_id,site\n"


def good_csv(plan: str, macs: list[str]) -> str:
    return HEADER + (
        f"Ana López,ana@example.com,{plan},+52 1,active,{macs[0].upper()},2024-02-29,OLD-1,\n"
        f"Bruno Díaz,bruno@example.com,{plan},,suspended,{macs[1]},,OLD-2,\n"
        f"Carla Gómez,carla@example.com,{plan},,,,,OLD-3,\n"
    )


async def test_dry_run_reports_each_bad_row_and_changes_nothing(two_tenants: Any) -> None:
    tc, other = two_tenants
    plan = await make_plan(tc, name="Tier 2")
    await make_plan(other, name="Only At B")
    taken = new_mac()
    from tests.support.provisioning import active_subscriber

    existing = await active_subscriber(tc, plan["id"], taken)
    body = HEADER + (
        "Ana,ana@example.com,tier 2,,active,,,,\n"  # 2: active needs a MAC
        ",bad-email,Nope,,,,,,\n"  # 3: name, email, plan
        "Bruno,bruno@example.com,Tier 2,,happy,ff:ff:ff:ff:ff:ff,,,\n"  # 4: status, MAC
        f"Carla,carla@example.com,Tier 2,,active,{taken},,,\n"  # 5: MAC of a live subscriber
        "Dora,dora@example.com,Only At B,,,,,,\n"  # 6: B's plan is unknown here
        "Eva,eva@example.com,Tier 2,,,,,,Nowhere\n"  # 7: no such site
        "Fede,fede@example.com,Tier 2,,,,2024-13-01,X,\n"  # 8: date
        "Gil,FEDE@example.com,Tier 2,,,,,,\n"  # 9: same email as line 8 (both fail)
        "Hugo,hugo@example.com,Tier 2,,,,,,\n"  # 10: fine
        f"{existing['name']},{existing['email']},Tier 2,,,,,,\n"  # 11: already there
    )
    r = await tc.post(
        "/api/v1/subscribers/import?dry_run=true",
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    report = ok(r)
    assert (report["dry_run"], report["rows"], report["created"], report["existing"]) == (
        True,
        10,
        1,
        1,
    )  # only Hugo would be created
    errors = {(e["row"], e["field"]) for e in report["errors"]}
    assert errors == {
        (2, "cpe_mac"),
        (3, "name"),
        (3, "email"),
        (3, "plan"),
        (4, "status"),
        (4, "cpe_mac"),
        (5, "cpe_mac"),
        (6, "plan"),
        (7, "site"),
        (8, "billing_start_date"),
        (9, "email"),
    }
    assert len(ok(await tc.get("/api/v1/subscribers"))["items"]) == 1
    # The real import refuses the whole file and says which rows to fix.
    r = await tc.post(
        "/api/v1/subscribers/import", content=body.encode(), headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == errors
    assert len(ok(await tc.get("/api/v1/subscribers"))["items"]) == 1


async def test_duplicates_inside_the_file_are_reported(make_tenant: Any) -> None:
    tc = await make_tenant()
    await make_plan(tc, name="Basic")
    mac = new_mac()
    body = HEADER + (
        f"A,a@example.com,Basic,,active,{mac},,E1,\n"
        f"B,b@example.com,Basic,,active,{mac},,E1,\n"
        "C,A@example.com,Basic,,,,,,\n"
    )
    report = ok(await tc.post("/api/v1/subscribers/import?dry_run=true", content=body.encode()))
    assert {(e["row"], e["field"]) for e in report["errors"]} == {
        (3, "external_id"),
        (3, "cpe_mac"),
        (4, "email"),
    }


async def test_import_then_run_again_changes_nothing(make_tenant: Any) -> None:
    from app import netstate
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    await make_plan(tc, name="Tier 2")
    macs = [new_mac(), new_mac()]
    body = good_csv("Tier 2", macs).encode()
    report = ok(await tc.post("/api/v1/subscribers/import", content=body))
    assert (report["created"], report["existing"], report["errors"]) == (3, 0, [])
    subs = {s["email"]: s for s in ok(await tc.get("/api/v1/subscribers"))["items"]}
    ana, bruno, carla = (subs[f"{n}@example.com"] for n in ("ana", "bruno", "carla"))
    assert (ana["status"], ana["cpe_mac"], ana["billing_start_date"]) == (
        "active",
        macs[0],
        "2024-02-29",
    )
    assert (bruno["status"], bruno["suspension_reason"]) == ("suspended", "admin")
    assert bruno["billing_start_date"] is not None
    assert carla["status"] == "pending_installation"
    work = ok(await tc.get(f"/api/v1/work-orders?subscriber_id={carla['id']}"))["items"]
    assert [(w["kind"], w["status"]) for w in work] == [("installation", "open")]
    assert ok(await tc.get(f"/api/v1/work-orders?subscriber_id={ana['id']}"))["items"] == []
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    entries = {str(e.subscriber_id): e for e in state.entries}
    assert (entries[ana["id"]].enabled, entries[ana["id"]].mac) == (True, macs[0])
    assert (entries[bruno["id"]].enabled, entries[bruno["id"]].reason) == (False, "admin")
    assert carla["id"] not in entries
    audit_before = await audit_actions(tc)
    assert audit_before.count("subscriber.import") == 3
    again = ok(await tc.post("/api/v1/subscribers/import", content=body))
    assert (again["created"], again["existing"]) == (0, 3)
    # Matched on external_id even when the other system changed the email meanwhile.
    changed = body.replace(b"ana@example.com", b"ana.lopez@example.com")
    third = ok(await tc.post("/api/v1/subscribers/import?dry_run=true", content=changed))
    assert (third["created"], third["existing"], third["errors"]) == (0, 3, [])
    assert await audit_actions(tc) == audit_before
    assert len(ok(await tc.get("/api/v1/subscribers"))["items"]) == 3


async def test_multipart_upload_roles_and_bad_files(make_tenant: Any) -> None:
    tc = await make_tenant()
    await make_plan(tc, name="Tier 2")
    body = good_csv("Tier 2", [new_mac(), new_mac()]).encode()
    cs, _ = await staff(tc, "customer_service")
    r = await cs.post("/api/v1/subscribers/import?dry_run=true", content=body)
    assert r.status_code == 403
    sales, _ = await staff(tc, "sales")
    # Sales imports subscribers waiting for installation (active ones: test_import_roles.py).
    pending = (HEADER + "Carla Gómez,carla@example.com,Tier 2,,,,,OLD-3,\n").encode()
    report = ok(
        await sales.post(
            "/api/v1/subscribers/import?dry_run=true",
            files={"file": ("subs.csv", pending, "text/csv")},
        )
    )
    assert (report["created"], report["errors"]) == (1, [])
    for bad, why in (
        (b"\xff\xfe\x00bad", "file"),
        (b"", "file"),
        (b"name,email\nA,a@example.com\n", "file"),  # no plan column
        (b"name,email,plan,colour\n", "file"),  # unknown column
    ):
        r = await tc.post("/api/v1/subscribers/import?dry_run=true", content=bad)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == why
    await cs.client.aclose()
    await sales.client.aclose()


async def test_cli_import_with_dry_run_and_progress(make_tenant: Any, tmp_path: Path) -> None:
    tc = await make_tenant()
    await make_plan(tc, name="Tier 2")
    path = tmp_path / "subs.csv"
    path.write_text(good_csv("Tier 2", [new_mac(), new_mac()]))
    env = {**os.environ, "COLUMNS": "120"}

    def wisp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "import", "subscribers", str(path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    dry = wisp("--tenant", tc.slug, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would create 3" in dry.stdout
    assert ok(await tc.get("/api/v1/subscribers"))["items"] == []
    done = wisp("--tenant", tc.slug)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created 3" in done.stdout
    assert len(ok(await tc.get("/api/v1/subscribers"))["items"]) == 3
    again = wisp("--tenant", tc.slug)
    assert "created 0, already there 3" in again.stdout
    assert wisp("--tenant", "no-such-tenant").returncode == 2
    path.write_text(HEADER + "X,not-an-email,Tier 2,,,,,,\n")
    bad = wisp("--tenant", tc.slug)
    assert bad.returncode == 1
    assert "email" in bad.stdout
