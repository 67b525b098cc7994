"""The tenant label of the events-received counts: the named tenants' domains, "other" for the
rest, none when no tenant is named."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conversions.rollups import tenant_series


@pytest.fixture
def named(app):
    yield tenant_series.configure
    tenant_series.configure(frozenset())


def test_named_tenants_by_domain_the_rest_other(named, tenant):
    assert tenant_series.label(tenant["tenant_id"]) is None  # off: no label at all
    named(tenant_series.parse(" Shop.Example.com ,,not-yet.example"))
    assert tenant_series.label(tenant["tenant_id"]) == "shop.example.com"
    assert tenant_series.label("another-tenant") == "other"
    assert tenant_series.label(None) == "other"


def test_threads_arriving_during_the_look_up_wait_for_it(named, tenant):
    named(tenant_series.parse("shop.example.com"))
    start = threading.Barrier(8)

    def label(_: int) -> str | None:
        start.wait()
        return tenant_series.label(tenant["tenant_id"])

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(label, range(8))) == {"shop.example.com"}


def test_a_list_as_given_by_create_app_config():
    assert tenant_series.parse(["a.example", "A.example ", ""]) == {"a.example"}


def test_more_than_the_cap_is_refused():
    with pytest.raises(ValueError, match=f"at most {tenant_series.MAX_TENANTS}"):
        tenant_series.parse([f"t{n}.example" for n in range(tenant_series.MAX_TENANTS + 1)])
