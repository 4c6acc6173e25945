// Status words the pages show (SPEC.md: Available / Reserved / Sold; Created / Cancelled / Complete).
import type { OrderStatus, TicketStatus } from "../gql/graphql";

export const TICKET_STATUS_WORDS: Readonly<Record<TicketStatus, string>> = {
  AVAILABLE: "Available",
  RESERVED: "Reserved",
  SOLD: "Sold",
};

export const ORDER_STATUS_WORDS: Readonly<Record<OrderStatus, string>> = {
  CREATED: "Created",
  CANCELLED: "Cancelled",
  COMPLETE: "Complete",
};

/** The newest of several views of one entity, by its version (a live event may be newer than a query's answer). */
export function newest<T extends { version: number }>(...views: ReadonlyArray<T | null | undefined>): T | undefined {
  let best: T | undefined;
  for (const view of views) {
    if (view && (best === undefined || view.version > best.version)) {
      best = view;
    }
  }
  return best;
}
