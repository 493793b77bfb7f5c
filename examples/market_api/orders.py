"""Orders: validation of a new order and two stores (process memory, or Redis when shared)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

SIDES = ("buy", "sell")
FIELDS = frozenset({"item", "side", "price", "quantity"})
MAX_PRICE = Decimal("1000000000")
MAX_QUANTITY = 1_000_000
RECENT = 50  # how many orders the public market view keeps


class OrderInvalid(ValueError):
    """Why a new order was refused, field by field (a 400 for the client)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Order:
    id: str
    owner: str  # the token's `sub`: never shown in public views
    client_id: str
    item: str
    side: str
    price: str  # a decimal string: JSON floats would round prices
    quantity: int
    created_at: int

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        del data["owner"], data["client_id"]
        return data


def _price(value: Any) -> Decimal | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return "must be a number or a decimal string"
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return "must be a number or a decimal string"
    if not price.is_finite() or not Decimal(0) < price <= MAX_PRICE:
        return f"must be above 0 and at most {MAX_PRICE}"
    if price.as_tuple().exponent < -2:  # type: ignore[operator]
        return "has at most two decimal places"
    return price


def parse_new_order(body: Any) -> dict[str, Any]:
    """The validated fields of a new order, or ``OrderInvalid`` naming every problem."""
    if not isinstance(body, dict):
        raise OrderInvalid({"body": "send a JSON object"})
    errors: dict[str, str] = {}
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(map(str, unknown))[:200]}"
    item = body.get("item")
    if not isinstance(item, str) or not 1 <= len(item.strip()) <= 100:
        errors["item"] = "give the item's name, 1 to 100 characters"
    side = body.get("side")
    if side not in SIDES:
        errors["side"] = "must be 'buy' or 'sell'"
    price = _price(body.get("price"))
    if isinstance(price, str):
        errors["price"] = price
    quantity = body.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        errors["quantity"] = "must be a whole number"
    elif not 1 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = f"must be between 1 and {MAX_QUANTITY}"
    if errors:
        raise OrderInvalid(errors)
    return {"item": item.strip(), "side": side, "price": str(price), "quantity": quantity}


def new_order(fields: dict[str, Any], owner: str, client_id: str) -> Order:
    return Order(
        id="ord_" + secrets.token_hex(8),
        owner=owner,
        client_id=client_id,
        created_at=int(time.time()),
        **fields,
    )


class OrderStore(Protocol):
    def add(self, order: Order) -> None: ...
    def for_owner(self, owner: str, limit: int) -> list[Order]: ...
    def recent(self, limit: int) -> list[Order]: ...


class MemoryOrderStore:
    """One process's orders; fine for a single process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[str, list[Order]] = {}
        self._recent: deque[Order] = deque(maxlen=RECENT)

    def add(self, order: Order) -> None:
        with self._lock:
            self._by_owner.setdefault(order.owner, []).append(order)
            self._recent.append(order)

    def for_owner(self, owner: str, limit: int) -> list[Order]:
        with self._lock:
            return list(reversed(self._by_owner.get(owner, [])[-limit:]))

    def recent(self, limit: int) -> list[Order]:
        with self._lock:
            return list(reversed(list(self._recent)[-limit:]))


class RedisOrderStore:
    """Orders in Redis lists, so every API process sees the same book."""

    def __init__(self, client: Any, namespace: str) -> None:
        self.redis = client
        self.ns = namespace

    def add(self, order: Order) -> None:
        raw = json.dumps(asdict(order))
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(f"{self.ns}:orders:{order.owner}", raw)
        pipe.lpush(f"{self.ns}:recent", raw)
        pipe.ltrim(f"{self.ns}:recent", 0, RECENT - 1)
        pipe.execute()

    def _load(self, key: str, limit: int) -> list[Order]:
        return [Order(**json.loads(raw)) for raw in self.redis.lrange(key, 0, limit - 1)]

    def for_owner(self, owner: str, limit: int) -> list[Order]:
        return self._load(f"{self.ns}:orders:{owner}", limit)

    def recent(self, limit: int) -> list[Order]:
        return self._load(f"{self.ns}:recent", limit)
