"""The OrdersService gRPC API."""

from __future__ import annotations

from typing import Any

import grpc

from common.grpc_edge import require_caller
from common.ids import check_id
from orders_svc.messages import order_message
from orders_svc.operations import Orders
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: Context
    ) -> orders_pb2.CreateOrderResponse:
        caller = require_caller()
        order = await self._orders.create(
            caller.user_id, check_id(request.ticket_id, "ticket_id"), request.seen_ticket_version
        )
        return orders_pb2.CreateOrderResponse(order=order_message(order))

    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.GetOrderResponse:
        caller = require_caller()
        order = await self._orders.get_for(check_id(request.id, "id"), caller.user_id)
        return orders_pb2.GetOrderResponse(order=order_message(order))

    async def BatchGetOrders(
        self, request: orders_pb2.BatchGetOrdersRequest, context: Context
    ) -> orders_pb2.BatchGetOrdersResponse:
        caller = require_caller()
        orders = await self._orders.batch_for(caller.user_id, list(request.ids))
        return orders_pb2.BatchGetOrdersResponse(orders=[order_message(o) for o in orders])

    async def ListMyOrders(
        self, request: orders_pb2.ListMyOrdersRequest, context: Context
    ) -> orders_pb2.ListMyOrdersResponse:
        caller = require_caller()
        orders = await self._orders.list_for(caller.user_id, request.page_size)
        return orders_pb2.ListMyOrdersResponse(orders=[order_message(o) for o in orders])

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: Context
    ) -> orders_pb2.CancelOrderResponse:
        caller = require_caller()
        order = await self._orders.cancel_for(check_id(request.id, "id"), caller.user_id)
        return orders_pb2.CancelOrderResponse(order=order_message(order))
