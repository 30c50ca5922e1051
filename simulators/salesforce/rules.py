"""Object rules of the real org: derived fields, cross-record checks, side effects and cascades.

Each hook receives the transaction and the record as it will be stored; a broken rule raises
:class:`~simulators.salesforce.errors.ApiError` with Salesforce's error code, before anything is
written. Side effects (the direct AccountContactRelation of a contact, an opportunity adopting
its first line item's price book) run through the same transaction, so they roll back with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.salesforce.errors import ApiError, bad_request
from simulators.salesforce.schema import STAGES, ObjectDef

if TYPE_CHECKING:
    from simulators.salesforce.transaction import Transaction

CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (
        ("Contact", "AccountId"),
        ("Opportunity", "AccountId"),
        ("AccountContactRelation", "AccountId"),
    ),
    "Contact": (("AccountContactRelation", "ContactId"),),
    "Opportunity": (
        ("OpportunityLineItem", "OpportunityId"),
        ("Opportunity_Product_Service__c", "Opportunity__c"),
    ),
    "Product2": (("PricebookEntry", "Product2Id"), ("Product_Service__c", "Product__c")),
    "Pricebook2": (("PricebookEntry", "Pricebook2Id"),),
}


def integrity(message: str, fields: list[str]) -> ApiError:
    """FIELD_INTEGRITY_EXCEPTION, as Salesforce words it."""
    return bad_request("FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {message}", fields)


def before_insert(tx: Transaction, obj: ObjectDef, record: dict[str, Any]) -> None:
    """Derive fields and check cross-record rules of a new record."""
    if obj.custom and "Name" in obj.fields and not record.get("Name"):
        record["Name"] = record["Id"]
    if obj.name == "AccountContactRelation":
        _check_new_relation(tx, record)
    elif obj.name == "PricebookEntry":
        _check_new_entry(tx, record)
    elif obj.name == "Pricebook2":
        record["IsStandard"] = bool(record.get("IsStandard"))
    _derive(tx, obj, record, None)


def before_update(
    tx: Transaction, obj: ObjectDef, after: dict[str, Any], before: dict[str, Any]
) -> None:
    """Derive fields and check the rules that guard changes of a live record."""
    if obj.name == "Opportunity":
        moved = after["Pricebook2Id"] != before["Pricebook2Id"]
        recurrency = after["CurrencyIsoCode"] != before["CurrencyIsoCode"]
        if (moved or recurrency) and tx.live_rows(
            "OpportunityLineItem", "OpportunityId", after["Id"]
        ):
            field = "Pricebook2Id" if moved else "CurrencyIsoCode"
            raise integrity(
                f"{field} (cannot change the price book or currency of an opportunity "
                "with products)",
                [field],
            )
    _derive(tx, obj, after, before)


def _derive(
    tx: Transaction, obj: ObjectDef, record: dict[str, Any], before: dict[str, Any] | None
) -> None:
    if obj.name == "Contact":
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record["LastName"]) if p)
    elif obj.name == "Opportunity":
        record["IsClosed"], record["IsWon"] = STAGES[record["StageName"]]
    elif obj.name == "OpportunityLineItem":
        _derive_line_item(tx, record, before)
    elif obj.name == "PricebookEntry":
        product = tx.live("Product2", record["Product2Id"])
        record["Name"] = product["Name"] if product else None


def _derive_line_item(
    tx: Transaction, record: dict[str, Any], before: dict[str, Any] | None
) -> None:
    record["TotalPrice"] = round(float(record["Quantity"]) * float(record["UnitPrice"]), 2)
    if before is not None:
        return
    entry = tx.live("PricebookEntry", record["PricebookEntryId"])
    opportunity = tx.live("Opportunity", record["OpportunityId"])
    assert entry is not None and opportunity is not None
    if not entry["IsActive"]:
        raise integrity("PricebookEntryId (pricebook entry is inactive)", ["PricebookEntryId"])
    if record.get("Product2Id") not in (None, entry["Product2Id"]):
        raise integrity("Product2Id (product does not match the price book entry)", ["Product2Id"])
    record["Product2Id"] = entry["Product2Id"]
    if entry["CurrencyIsoCode"] != opportunity["CurrencyIsoCode"]:
        raise integrity(
            "PricebookEntryId (pricebook entry currency code does not match opportunity "
            "currency code)",
            ["PricebookEntryId"],
        )
    book = opportunity["Pricebook2Id"]
    if book is None:
        tx.set_fields("Opportunity", opportunity["Id"], {"Pricebook2Id": entry["Pricebook2Id"]})
    elif book != entry["Pricebook2Id"]:
        raise integrity(
            "PricebookEntryId (pricebook entry is in a different pricebook than the one "
            "assigned to the opportunity)",
            ["PricebookEntryId"],
        )
    product = tx.live("Product2", entry["Product2Id"])
    names = (opportunity["Name"], product["Name"] if product else "")
    record["Name"] = " ".join(n for n in names if n)


def _check_new_entry(tx: Transaction, record: dict[str, Any]) -> None:
    book = tx.live("Pricebook2", record["Pricebook2Id"])
    assert book is not None
    same = [
        e
        for e in tx.live_rows("PricebookEntry", "Product2Id", record["Product2Id"])
        if e["CurrencyIsoCode"] == record["CurrencyIsoCode"]
    ]
    if any(e["Pricebook2Id"] == book["Id"] for e in same):
        raise bad_request(
            "DUPLICATE_VALUE", "This price definition already exists in this price book", []
        )
    if book["IsStandard"]:
        return
    standard = [e for e in same if e["Pricebook2Id"] == tx.store.standard_pricebook_id]
    if not standard:
        raise bad_request(
            "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", []
        )
    if record.get("UseStandardPrice"):
        record["UnitPrice"] = standard[0]["UnitPrice"]


def _check_new_relation(tx: Transaction, record: dict[str, Any]) -> None:
    for relation in tx.live_rows("AccountContactRelation", "ContactId", record["ContactId"]):
        if relation["AccountId"] == record["AccountId"]:
            raise bad_request(
                "DUPLICATE_VALUE",
                "duplicate value found: the contact is already related to this account",
                ["AccountId"],
            )
    record["IsDirect"] = bool(record.get("IsDirect"))


def after_insert(tx: Transaction, obj: ObjectDef, record: dict[str, Any]) -> None:
    """Side effects of a create: a contact's direct relation to its account."""
    if obj.name == "Contact" and record["AccountId"]:
        _make_direct(tx, record["Id"], record["AccountId"])


def after_update(
    tx: Transaction, obj: ObjectDef, after: dict[str, Any], before: dict[str, Any]
) -> None:
    """Side effects of an update: moving a contact moves its direct relation."""
    if obj.name == "Contact" and after["AccountId"] != before["AccountId"]:
        for relation in tx.live_rows("AccountContactRelation", "ContactId", after["Id"]):
            if relation["IsDirect"]:
                tx.set_fields("AccountContactRelation", relation["Id"], {"IsDirect": False})
        if after["AccountId"]:
            _make_direct(tx, after["Id"], after["AccountId"])


def _make_direct(tx: Transaction, contact_id: str, account_id: str) -> None:
    for relation in tx.live_rows("AccountContactRelation", "ContactId", contact_id):
        if relation["AccountId"] == account_id:
            tx.set_fields("AccountContactRelation", relation["Id"], {"IsDirect": True})
            return
    tx.insert(
        "AccountContactRelation",
        {"AccountId": account_id, "ContactId": contact_id, "IsDirect": True, "IsActive": True},
        trusted=True,
    )


def before_delete(
    tx: Transaction, obj: ObjectDef, record: dict[str, Any], *, cascade: bool
) -> None:
    """Refuse deletes the real org refuses."""
    if cascade:
        return
    if obj.name == "AccountContactRelation" and record["IsDirect"]:
        raise bad_request(
            "DELETE_FAILED", "You can't delete the direct relationship of a contact to its account"
        )
    if obj.name == "Pricebook2" and record["IsStandard"]:
        raise bad_request("DELETE_FAILED", "The standard price book can't be deleted")
    if obj.name == "PricebookEntry":
        _check_entry_delete(tx, record)


def _check_entry_delete(tx: Transaction, record: dict[str, Any]) -> None:
    if tx.live_rows("OpportunityLineItem", "PricebookEntryId", record["Id"]):
        raise bad_request(
            "DELETE_FAILED", "This price book entry is in use by opportunity products"
        )
    if record["Pricebook2Id"] == tx.store.standard_pricebook_id:
        for entry in tx.live_rows("PricebookEntry", "Product2Id", record["Product2Id"]):
            if (
                entry["Id"] != record["Id"]
                and entry["CurrencyIsoCode"] == record["CurrencyIsoCode"]
            ):
                raise bad_request(
                    "DELETE_FAILED",
                    "This standard price is used by entries in other price books",
                )
