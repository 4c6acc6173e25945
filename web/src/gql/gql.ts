/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation SignOut {\n    signOut\n  }\n": typeof types.SignOutDocument,
    "\n  mutation SignUp($email: String!, $password: String!) {\n    signUp(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  mutation SignIn($email: String!, $password: String!) {\n    signIn(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": typeof types.SignInDocument,
    "\n  mutation CreateTicket($title: String!, $priceCents: Int!) {\n    createTicket(title: $title, priceCents: $priceCents) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n": typeof types.CreateTicketDocument,
    "\n  query Order($id: ID!) {\n    order(id: $id) {\n      id\n      status\n      expiresAt\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n": typeof types.OrderDocument,
    "\n  subscription OrderStatus($orderId: ID!) {\n    orderStatus(orderId: $orderId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": typeof types.OrderStatusDocument,
    "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": typeof types.CancelOrderDocument,
    "\n  query MyOrders {\n    myOrders {\n      id\n      status\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n": typeof types.MyOrdersDocument,
    "\n  query Ticket($id: ID!) {\n    ticket(id: $id) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n": typeof types.TicketDocument,
    "\n  subscription TicketStatus($ticketId: ID!) {\n    ticketStatus(ticketId: $ticketId) {\n      ticketId\n      status\n      version\n      orderId\n    }\n  }\n": typeof types.TicketStatusDocument,
    "\n  mutation CreateOrder($ticketId: ID!) {\n    createOrder(ticketId: $ticketId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": typeof types.CreateOrderDocument,
    "\n  query Tickets($first: Int!, $after: String) {\n    tickets(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          title\n          priceCents\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.TicketsDocument,
    "\n  mutation PayOrder($orderId: ID!, $paymentMethod: String!) {\n    payOrder(orderId: $orderId, paymentMethod: $paymentMethod) {\n      id\n      orderId\n      stripeId\n      amountCents\n    }\n  }\n": typeof types.PayOrderDocument,
    "\n  query Me {\n    me {\n      id\n      email\n    }\n  }\n": typeof types.MeDocument,
};
const documents: Documents = {
    "\n  mutation SignOut {\n    signOut\n  }\n": types.SignOutDocument,
    "\n  mutation SignUp($email: String!, $password: String!) {\n    signUp(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  mutation SignIn($email: String!, $password: String!) {\n    signIn(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": types.SignInDocument,
    "\n  mutation CreateTicket($title: String!, $priceCents: Int!) {\n    createTicket(title: $title, priceCents: $priceCents) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n": types.CreateTicketDocument,
    "\n  query Order($id: ID!) {\n    order(id: $id) {\n      id\n      status\n      expiresAt\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n": types.OrderDocument,
    "\n  subscription OrderStatus($orderId: ID!) {\n    orderStatus(orderId: $orderId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": types.OrderStatusDocument,
    "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": types.CancelOrderDocument,
    "\n  query MyOrders {\n    myOrders {\n      id\n      status\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n": types.MyOrdersDocument,
    "\n  query Ticket($id: ID!) {\n    ticket(id: $id) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n": types.TicketDocument,
    "\n  subscription TicketStatus($ticketId: ID!) {\n    ticketStatus(ticketId: $ticketId) {\n      ticketId\n      status\n      version\n      orderId\n    }\n  }\n": types.TicketStatusDocument,
    "\n  mutation CreateOrder($ticketId: ID!) {\n    createOrder(ticketId: $ticketId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n": types.CreateOrderDocument,
    "\n  query Tickets($first: Int!, $after: String) {\n    tickets(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          title\n          priceCents\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.TicketsDocument,
    "\n  mutation PayOrder($orderId: ID!, $paymentMethod: String!) {\n    payOrder(orderId: $orderId, paymentMethod: $paymentMethod) {\n      id\n      orderId\n      stripeId\n      amountCents\n    }\n  }\n": types.PayOrderDocument,
    "\n  query Me {\n    me {\n      id\n      email\n    }\n  }\n": types.MeDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignOut {\n    signOut\n  }\n"): (typeof documents)["\n  mutation SignOut {\n    signOut\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($email: String!, $password: String!) {\n    signUp(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($email: String!, $password: String!) {\n    signUp(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignIn($email: String!, $password: String!) {\n    signIn(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignIn($email: String!, $password: String!) {\n    signIn(email: $email, password: $password) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateTicket($title: String!, $priceCents: Int!) {\n    createTicket(title: $title, priceCents: $priceCents) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n"): (typeof documents)["\n  mutation CreateTicket($title: String!, $priceCents: Int!) {\n    createTicket(title: $title, priceCents: $priceCents) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Order($id: ID!) {\n    order(id: $id) {\n      id\n      status\n      expiresAt\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n"): (typeof documents)["\n  query Order($id: ID!) {\n    order(id: $id) {\n      id\n      status\n      expiresAt\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription OrderStatus($orderId: ID!) {\n    orderStatus(orderId: $orderId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"): (typeof documents)["\n  subscription OrderStatus($orderId: ID!) {\n    orderStatus(orderId: $orderId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"): (typeof documents)["\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyOrders {\n    myOrders {\n      id\n      status\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyOrders {\n    myOrders {\n      id\n      status\n      priceCents\n      version\n      ticket {\n        id\n        title\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Ticket($id: ID!) {\n    ticket(id: $id) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n"): (typeof documents)["\n  query Ticket($id: ID!) {\n    ticket(id: $id) {\n      id\n      title\n      priceCents\n      sellerId\n      status\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription TicketStatus($ticketId: ID!) {\n    ticketStatus(ticketId: $ticketId) {\n      ticketId\n      status\n      version\n      orderId\n    }\n  }\n"): (typeof documents)["\n  subscription TicketStatus($ticketId: ID!) {\n    ticketStatus(ticketId: $ticketId) {\n      ticketId\n      status\n      version\n      orderId\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateOrder($ticketId: ID!) {\n    createOrder(ticketId: $ticketId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"): (typeof documents)["\n  mutation CreateOrder($ticketId: ID!) {\n    createOrder(ticketId: $ticketId) {\n      id\n      status\n      expiresAt\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Tickets($first: Int!, $after: String) {\n    tickets(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          title\n          priceCents\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Tickets($first: Int!, $after: String) {\n    tickets(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          title\n          priceCents\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PayOrder($orderId: ID!, $paymentMethod: String!) {\n    payOrder(orderId: $orderId, paymentMethod: $paymentMethod) {\n      id\n      orderId\n      stripeId\n      amountCents\n    }\n  }\n"): (typeof documents)["\n  mutation PayOrder($orderId: ID!, $paymentMethod: String!) {\n    payOrder(orderId: $orderId, paymentMethod: $paymentMethod) {\n      id\n      orderId\n      stripeId\n      amountCents\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      id\n      email\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      id\n      email\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;