"""Test the index verdict on models the demo shop does not have.

Each model is made in a registry of its own (``isolate_apps``), which the
verdict reads in place of Django's, so no table or migration is involved.
"""

# The models exist only to be read: no __str__ needed.
# ruff: noqa: DJ008

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import models
from django.test.utils import isolate_apps

from perfprobe.report.indexes import check_indexes


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Give the verdict an app registry of its own, for models made in the test."""
    import django.apps

    with isolate_apps("apps.shop") as apps:
        apps.ready = True
        monkeypatch.setattr(django.apps, "apps", apps)
        yield apps


def test_an_index_named_by_the_column_attribute_is_found(registry: Any) -> None:
    """Meta.indexes may name a foreign key by its attname ("owner_id")."""

    class Owner(models.Model):
        class Meta:
            app_label = "shop"
            db_table = "b9_owner"

    class Pet(models.Model):
        owner = models.ForeignKey(Owner, models.CASCADE, db_index=False)

        class Meta:
            app_label = "shop"
            db_table = "b9_pet"
            indexes = [models.Index(fields=["owner_id"], name="pet_owner_idx")]

    verdict = check_indexes('SELECT * FROM "b9_pet" WHERE "b9_pet"."owner_id" = ?')

    assert verdict is not None
    assert verdict.indexed == ("Pet.owner: index pet_owner_idx",)
    assert verdict.unindexed == ()


def test_the_first_column_of_a_composite_primary_key_is_indexed(
    registry: Any,
) -> None:
    """CompositePrimaryKey("tenant", "number") indexes tenant; number alone is not."""

    class Invoice(models.Model):
        pk = models.CompositePrimaryKey("tenant", "number")
        tenant = models.CharField(max_length=20)
        number = models.IntegerField()

        class Meta:
            app_label = "shop"
            db_table = "b9_invoice"

    by_tenant = check_indexes(
        'SELECT * FROM "b9_invoice" WHERE "b9_invoice"."tenant" = ?'
    )
    by_number = check_indexes(
        'SELECT * FROM "b9_invoice" WHERE "b9_invoice"."number" = ?'
    )

    assert by_tenant is not None and by_number is not None
    assert by_tenant.indexed == ("Invoice.tenant: primary key",)
    assert not by_tenant.few_rows
    assert by_number.unindexed == ("Invoice.number",)


@pytest.mark.parametrize("indexed_last", [False, True])
def test_two_models_on_one_table_give_no_verdict(
    registry: Any, indexed_last: bool
) -> None:
    """One model indexes x, the other not: which is the table's truth is unknown."""

    def make(name: str, indexed: bool) -> None:
        meta = type("Meta", (), {"app_label": "shop", "db_table": "b9_same"})
        attrs = {
            "x": models.IntegerField(db_index=indexed),
            "Meta": meta,
            "__module__": __name__,
        }
        type(name, (models.Model,), attrs)

    make("First", not indexed_last)
    make("Second", indexed_last)

    assert check_indexes('SELECT * FROM "b9_same" WHERE "b9_same"."x" = ?') is None


def test_unmanaged_and_schema_tables_give_no_verdict(registry: Any) -> None:
    """Unmanaged models' indexes are not Django's; a schema prefix is not parsed."""

    class Legacy(models.Model):
        x = models.IntegerField(db_index=True)

        class Meta:
            app_label = "shop"
            db_table = "b9_legacy"
            managed = False

    class Elsewhere(models.Model):
        x = models.IntegerField(db_index=True)

        class Meta:
            app_label = "shop"
            db_table = 'other"."b9_elsewhere'

    for sql in (
        'SELECT * FROM "b9_legacy" WHERE "b9_legacy"."x" = ?',
        'SELECT * FROM "other"."b9_elsewhere" WHERE "b9_elsewhere"."x" = ?',
        'SELECT * FROM "b9_elsewhere" WHERE "b9_elsewhere"."x" = ?',
    ):
        assert check_indexes(sql) is None, sql
