"""The line item link of Opportunity_Product_Service__c is a text field (Salesforce allows no
lookup to OpportunityLineItem): 15-character ids are matched, and a service that names a product
not on the opportunity fails the push with a reason."""

from __future__ import annotations

from decimal import Decimal

from statemachine.rules import LineItem, opportunity_problems
from workers.sync.opportunities import _services

ITEM = "00k000000000001AAA"
OTHER = "00k000000000009AAA"


def service_row(line_item_id: str) -> dict[str, object]:
    return {
        "Id": "a00000000000001AAA",
        "Opportunity_Product_Id__c": line_item_id,
        "Product_Service__c": "a01000000000001AAA",
        "Product_Service__r": {"LogiSense_Package_Service_Id__c": "1"},
        "Quantity__c": 2,
        "Recurring_Price__c": 50,
        "One_Time_Price__c": 0,
        "State_Prices__c": "[]",
    }


def problems(line_item_id: str) -> list[str]:
    return opportunity_problems(
        {"IsWon": True, "StageName": "Closed Won", "CurrencyIsoCode": "USD"},
        pricebook_name="LogiSense",
        expected_pricebook="LogiSense",
        account_currency="USD",
        line_items=[LineItem(ITEM, Decimal("100"), 1)],
        services=_services([service_row(line_item_id)], [ITEM]),
        known_services={1: 1},
    )


def test_a_service_linked_by_the_18_or_15_character_id_prices_its_line_item() -> None:
    assert problems(ITEM) == []
    assert problems(ITEM[:15]) == []


def test_a_service_naming_another_product_fails_the_push_with_a_reason() -> None:
    found = problems(OTHER)
    assert any("not on this opportunity" in p and OTHER in p for p in found)
    assert any(f"Product {ITEM} has no services" in p for p in found)
