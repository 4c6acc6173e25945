"""The OrdersService gRPC API."""

from __future__ import annotations

from typing import Any

import grpc

from common import paging
from common.grpc_edge import require_caller
from common.ids import check_id
from common.timestamps import to_timestamp
from orders_svc import domain
from orders_svc.domain import Order, OrderStatus
from orders_svc.store import OrderStore
from orders_svc.workflow import Orders
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

_STATUS = {
    OrderStatus.CREATED: orders_pb2.ORDER_STATUS_CREATED,
    OrderStatus.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
    OrderStatus.COMPLETE: orders_pb2.ORDER_STATUS_COMPLETE,
}


def order_message(order: Order) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        status=_STATUS[order.status],
        expire_time=to_timestamp(order.expires_at),
        price_cents=order.price_cents,
        version=order.version,
        create_time=to_timestamp(order.created_at),
    )


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(self, orders: Orders, store: OrderStore) -> None:
        self._orders = orders
        self._store = store

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: Context
    ) -> orders_pb2.CreateOrderResponse:
        caller = require_caller()
        ticket_id = check_id(request.ticket_id, "ticket_id")
        order = await self._orders.create(caller.user_id, ticket_id)
        return orders_pb2.CreateOrderResponse(order=order_message(order))

    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.GetOrderResponse:
        caller = require_caller()
        order = await self._orders.get_for(check_id(request.id, "id"), caller.user_id)
        return orders_pb2.GetOrderResponse(order=order_message(order))

    async def BatchGetOrders(
        self, request: orders_pb2.BatchGetOrdersRequest, context: Context
    ) -> orders_pb2.BatchGetOrdersResponse:
        caller = require_caller()
        ids = paging.batch_ids(request.ids)
        orders = await self._store.of_user_among(caller.user_id, ids) if ids else []
        return orders_pb2.BatchGetOrdersResponse(orders=[order_message(o) for o in orders])

    async def ListMyOrders(
        self, request: orders_pb2.ListMyOrdersRequest, context: Context
    ) -> orders_pb2.ListMyOrdersResponse:
        caller = require_caller()
        limit = domain.page_size(request.page_size)
        orders = await self._store.newest_of_user(caller.user_id, limit)
        return orders_pb2.ListMyOrdersResponse(orders=[order_message(o) for o in orders])

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: Context
    ) -> orders_pb2.CancelOrderResponse:
        caller = require_caller()
        order = await self._orders.cancel_for(check_id(request.id, "id"), caller.user_id)
        return orders_pb2.CancelOrderResponse(order=order_message(order))
