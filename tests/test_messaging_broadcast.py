"""Broadcasting one message to many groups: every group accounted for once, never sent to twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from wa_groups import ClientValidationError, GroupsClient, RetryPolicy, text_message
from wa_groups.bulk import BulkProgress, BulkResult
from wa_groups.testing import FakeGraphAPI, Fault

MEMBER = "16505550001"


def populate(fake: FakeGraphAPI, n: int, *, empty_every: int = 0) -> list[str]:
    ids = fake.add_groups(n, "Broadcast")
    for index, gid in enumerate(ids):
        if not empty_every or index % empty_every:
            fake.groups[gid].participants = [MEMBER]
    return ids


def check_accounting(result: BulkResult, groups: list[str], fake: FakeGraphAPI) -> None:
    outcomes = Counter(result.succeeded + [f.item for f in result.failed] + result.not_attempted)
    assert set(outcomes) == set(groups) and set(outcomes.values()) == {1}, "every group exactly once"
    assert max(fake.group_sends.values(), default=0) <= 1, "no group was posted to twice"
    for gid in result.succeeded:
        assert fake.group_sends[gid] == 1 and result.details[gid].startswith("wamid.")
    assert set(result.details) == set(result.succeeded)


async def test_broadcast_to_every_active_group_streams_the_listing(fake: FakeGraphAPI, client: GroupsClient) -> None:
    groups = populate(fake, 40, empty_every=10)
    progress: list[BulkProgress] = []
    result = await client.broadcast(text_message("Hello all"), on_progress=progress.append)
    check_accounting(result, groups, fake)
    assert result.exhausted and result.action == "broadcast"
    assert sorted(f.code or 0 for f in result.failed) == [131020] * 4
    assert len(result.succeeded) == 36 and progress[-1].done == 40
    assert BulkResult.from_json(result.to_json()).details == result.details


async def test_broadcast_refuses_an_unsupported_message_before_anything(
    fake: FakeGraphAPI, client: GroupsClient
) -> None:
    populate(fake, 3)
    with pytest.raises(ClientValidationError, match="interactive"):
        await client.broadcast({"type": "interactive", "interactive": {}})
    with pytest.raises(ClientValidationError, match="one string"):
        await client.broadcast(text_message("x"), "GROUP")
    assert fake.requests == []


async def test_a_thousand_groups_with_faults_an_interruption_and_a_resume(policy: RetryPolicy) -> None:
    async with FakeGraphAPI(seed=7, latency=0.002) as fake, fake.client(retry=policy) as client:
        groups = populate(fake, 1000, empty_every=50)
        gone = groups[3]
        del fake.groups[gone]  # an unknown group: 131041
        given = list(groups)
        # Throttling (retried), lost answers after the send took effect, and plain server errors.
        fake.add_fault(Fault(path="/messages$", status=400, code=130429, probability=0.03, times=None))
        fake.add_fault(Fault(path="/messages$", status=500, code=1, probability=0.02, times=None, after_effect=True))
        fake.add_fault(Fault(path="/messages$", status=503, code=2, probability=0.02, times=None))

        partial = BulkResult()
        reached = asyncio.Event()

        def watch(progress: BulkProgress) -> None:
            if progress.done >= 400:
                reached.set()

        task = asyncio.create_task(
            client.broadcast(text_message("Sale!"), given, concurrency=16, on_progress=watch, result=partial)
        )
        await asyncio.wait_for(reached.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        check_accounting(partial, given, fake)
        assert partial.not_attempted, "the interruption left groups to do"
        unknown_before = {f.item for f in partial.failed if f.error.outcome_unknown}
        assert unknown_before, "lost answers were recorded as unknown outcomes"

        restored = BulkResult.from_json(partial.to_json())
        fake.clear_faults()
        final = await client.broadcast(text_message("Sale!"), given, resume=restored)
        check_accounting(final, given, fake)
        assert final.not_attempted == []
        # Groups whose first send may have gone out were not sent to again.
        assert unknown_before <= {f.item for f in final.failed if f.error.outcome_unknown}
        codes = Counter(f.code for f in final.failed if not f.error.outcome_unknown)
        empty = {gid for gid in groups if gid != gone and gid in fake.groups and not fake.groups[gid].participants}
        assert codes[131041] == 1 and codes[131020] == len(empty - unknown_before) and len(empty) == 20
        # Retryable failures that certainly did not go out were sent on resume.
        assert len(final.succeeded) + len(final.failed) == 1000


async def test_resend_unknown_sends_again_only_when_asked(fake: FakeGraphAPI, client: GroupsClient) -> None:
    groups = populate(fake, 5)
    fake.add_fault(Fault(path="/messages$", status=500, code=1, times=1))  # not carried out, but ambiguous
    first = await client.broadcast(text_message("x"), groups, concurrency=1)
    (unknown,) = [f.item for f in first.failed]
    again = await client.broadcast(text_message("x"), groups, resume=first)
    assert [f.item for f in again.failed] == [unknown] and fake.group_sends[unknown] == 0
    last = await client.broadcast(text_message("x"), groups, resume=again, result=again, resend_unknown=True)
    assert last is again  # filled in place, the earlier details kept
    assert last.ok and fake.group_sends[unknown] == 1 and len(last.details) == 5


async def test_a_broadcasts_messages_can_be_followed_by_handle() -> None:
    from aiohttp import web

    from wa_groups.webhooks import RedactedAccessLogger, WebhookReceiver

    receiver = WebhookReceiver("app-secret", "verify-token")
    runner = web.AppRunner(receiver.app, access_log_class=RedactedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with FakeGraphAPI(webhook_url=url, app_secret="app-secret") as fake, fake.client() as client:
            client.attach(receiver)
            group_ids = fake.add_groups(3, "Tracked")
            for group_id in group_ids:
                fake.groups[group_id].participants = ["16505551234", "16505551235"]
            result = await client.broadcast(text_message("Hello all"), group_ids)
            assert result.ok and set(result.details) == set(group_ids)
            handles = [client.track_message(g, m) for g, m in result.details.items()]
            for handle in handles:
                sent = await asyncio.wait_for(handle.wait(timeout=10), 15)
                assert sent.message_id == handle.message_id
            await fake.flush_webhooks()
            assert all(set(h.read_by) == {"16505551234", "16505551235"} for h in handles)
            assert {h.message_id for h in handles} == set(result.details.values())
        with pytest.raises(ClientValidationError, match="message_id"):
            client.track_message(group_ids[0], "")
    finally:
        await runner.cleanup()
