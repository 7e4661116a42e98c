"""The scenario of ``wa-groups demo``: its broadcast, counted by webhook, against the fake's own record."""

from __future__ import annotations

from wa_groups.bulk.graph import run_all_join_requests
from wa_groups.testing.demo import DemoServer


async def test_demo_broadcast_counts_what_the_fake_sent() -> None:
    async with DemoServer(groups=40, requests=300, seed=3) as server, server.client() as client:
        await run_all_join_requests(
            client,
            group_ids=None,
            reject=False,
            concurrency=8,
            batch_size=8,
            on_progress=None,
            resume=None,
            phone_number_id=None,
        )
        fake = server.fake
        fake.groups[next(iter(fake.groups))].participants = []  # one group nobody joined: 131020
        check = await server.broadcast(client, "Hello from the demo", concurrency=4, wait=30)

    result = check.result
    assert check.complete and check.receiver_url.startswith("http://127.0.0.1:")
    # The client's result against the fake's record: one accepted message per group it reports sent to.
    assert set(result.details) == set(result.succeeded) == set(fake.group_sends)
    assert set(fake.group_sends.values()) == {1}
    assert sorted(result.details.values()) == sorted(message["id"] for message in fake.group_messages)
    assert all(message["body"]["text"]["body"] == "Hello from the demo" for message in fake.group_messages)
    refused = {failure.item: failure.code for failure in result.failed}
    assert refused == {
        gid: 131207 if group.suspended else 131020
        for gid, group in fake.groups.items()
        if group.suspended or not group.participants
    }
    assert 131020 in refused.values() and 131207 in refused.values()
    # Statuses received by the receiver against the participants the fake reported them for.
    members = sum(len(fake.groups[gid].participants) for gid in fake.group_sends)
    assert check.server_sent_to == len(fake.group_sends) == len(result.succeeded)
    assert check.server_participants == members > 0
    assert check.delivered == check.read == members
    assert fake.stats.webhooks_failed == 0 and fake.webhook_url is None
