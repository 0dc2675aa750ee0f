"""The proxy's key cache: a burst on a cold key reads it once; a fresh read always reads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tollgate.proxy.runtime import KeyCache
from tollgate.store.hotpath import KeyRecord


class CountingHotPath:
    def __init__(self, account_status: str = "active") -> None:
        self.reads: list[str] = []
        self.account_status = account_status

    def find_key(self, digest: str) -> KeyRecord:
        self.reads.append(digest)
        return KeyRecord(
            "key_1",
            "acct_1",
            "inference",
            "active",
            digest=digest,
            account_status=self.account_status,
        )


def test_a_burst_of_requests_on_a_cold_key_reads_it_once():
    hotpath = CountingHotPath()
    cache = KeyCache(hotpath)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=16) as pool:
        records = list(pool.map(lambda _: cache.resolve("tg-secret"), range(64)))

    assert len(hotpath.reads) == 1
    assert {record.key_id for record in records} == {"key_1"}


def test_a_fresh_resolve_reads_the_key_even_when_it_is_cached():
    hotpath = CountingHotPath()
    cache = KeyCache(hotpath)  # type: ignore[arg-type]
    cache.resolve("tg-secret")

    cache.resolve("tg-secret", fresh=True)
    cache.resolve("tg-secret")

    assert len(hotpath.reads) == 2


def test_a_suspended_accounts_key_is_not_kept_so_its_reinstatement_acts_at_once():
    hotpath = CountingHotPath(account_status="suspended")
    cache = KeyCache(hotpath)  # type: ignore[arg-type]
    cache.resolve("tg-secret")

    hotpath.account_status = "active"  # reinstated
    record = cache.resolve("tg-secret")

    assert len(hotpath.reads) == 2
    assert record.account_status == "active"
