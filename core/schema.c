/*
 * schema.c — the default field-sales declaration (ARCHITECTURE.md).
 *
 * Device-born tables (meetings, orders, order lines, complaints, competitor
 * notes), shared tables (customers, contacts) and head-office tables
 * (products, prices, balances).  Every row that belongs to a customer names
 * it in a column flagged FS_COL_CUSTOMER; head office uses it to send each
 * manager's devices only their customers.  A customer's `manager` is set
 * where the customer is born and head-office owned afterwards (FS_COL_HQ).
 *
 * Columns are only ever appended to a table; bump `version` when they are.
 * A column flagged FS_COL_INDEX is indexed in every store (head office's
 * imports and the device's catalog views look rows up by SKU); the index is
 * made on the next writable open of an older store, so it needs no version.
 */
#include <fieldsync/fieldsync.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T FS_COL_TEXT
#define I FS_COL_INT

static const fs_column customers[] = {
    {"name", T, FS_COL_NOTNULL, 200},
    {"vat", T, 0, 40},
    {"segment", T, 0, 60},
    {"address", T, 0, 300},
    {"city", T, 0, 100},
    {"country", T, 0, 2},
    {"phone", T, 0, 40},
    {"email", T, 0, 200},
    {"status", T, FS_COL_NOTNULL, 16},
    {"manager", T, FS_COL_HQ, 100},
    {"created_at", T, 0, 32},
};
static const fs_column contacts[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"name", T, FS_COL_NOTNULL, 200},
    {"role", T, 0, 100},
    {"phone", T, 0, 40},
    {"email", T, 0, 200},
};
static const fs_column meetings[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"at", T, FS_COL_NOTNULL, 32},
    {"place", T, 0, 200},
    {"kind", T, FS_COL_NOTNULL, 16},
    {"outcome", T, 0, 2000},
    {"notes", T, 0, 4000},
    {"follow_up", T, 0, 10},
    {"manager", T, 0, 100},
    /* version 3: a call's length (`call log --duration`) */
    {"duration_min", I, 0, 0},
};
static const fs_column orders[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"status", T, FS_COL_NOTNULL, 16},
    {"currency", T, FS_COL_NOTNULL, 3},
    {"discount_bp", I, 0, 0},
    {"created_at", T, 0, 32},
    {"submitted_at", T, 0, 32},
    {"manager", T, 0, 100},
    /* version 2: a short number for people, "3F2A91-17" (the device's
     * sequence), fixed when the order is made */
    {"number", T, FS_COL_HQ, 32},
    /* version 3: the quote it was accepted from, the deal it closes */
    {"quote_id", T, 0, 64},
    {"deal_id", T, 0, 64},
};
static const fs_column order_lines[] = {
    {"order_id", T, FS_COL_NOTNULL, 64},
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"sku", T, FS_COL_NOTNULL, 64},
    {"qty", I, FS_COL_NOTNULL, 0},
    {"unit_price", I, FS_COL_NOTNULL, 0},
    {"currency", T, FS_COL_NOTNULL, 3},
    {"discount_bp", I, 0, 0},
};
static const fs_column complaints[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"kind", T, FS_COL_NOTNULL, 16},
    {"text", T, FS_COL_NOTNULL, 4000},
    {"created_at", T, 0, 32},
    /* version 2 */
    {"status", T, 0, 16}, /* open (NULL in rows from version 1), in_progress, resolved */
    {"resolution", T, 0, 4000},
    {"resolved_at", T, 0, 32},
    {"manager", T, 0, 100},
};
static const fs_column competitor_notes[] = {
    {"customer_id", T, FS_COL_CUSTOMER, 64},
    {"competitor", T, FS_COL_NOTNULL, 200},
    {"note", T, FS_COL_NOTNULL, 4000},
    {"created_at", T, 0, 32},
    /* version 2 */
    {"product", T, 0, 200},
    {"price", I, 0, 0}, /* minor units of currency, as seen */
    {"currency", T, 0, 3},
    {"manager", T, 0, 100},
};
/* version 3: the manager's own to-do list; a task may name no customer. */
static const fs_column tasks[] = {
    {"customer_id", T, FS_COL_CUSTOMER, 64},
    {"title", T, FS_COL_NOTNULL, 200},
    {"due", T, 0, 10},
    {"done_at", T, 0, 32},
    {"notes", T, 0, 2000},
    {"created_at", T, 0, 32},
    {"manager", T, 0, 100},
};
/* version 3: a proposal, priced like an order, valid until a date; `quote
 * accept` turns it into an order (orders.quote_id). */
static const fs_column quotes[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"status", T, FS_COL_NOTNULL, 16}, /* draft, sent, accepted, rejected */
    {"currency", T, FS_COL_NOTNULL, 3},
    {"discount_bp", I, 0, 0},
    {"valid_until", T, 0, 10},
    {"created_at", T, 0, 32},
    {"sent_at", T, 0, 32},
    {"decided_at", T, 0, 32},
    {"manager", T, 0, 100},
    {"number", T, FS_COL_HQ, 32},
    {"order_id", T, 0, 64},
    {"deal_id", T, 0, 64},
    {"notes", T, 0, 2000},
};
static const fs_column quote_lines[] = {
    {"quote_id", T, FS_COL_NOTNULL, 64},
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"sku", T, FS_COL_NOTNULL, 64},
    {"qty", I, FS_COL_NOTNULL, 0},
    {"unit_price", I, FS_COL_NOTNULL, 0},
    {"currency", T, FS_COL_NOTNULL, 3},
    {"discount_bp", I, 0, 0},
};
/* version 3: an opportunity, lead to won or lost. */
static const fs_column deals[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"title", T, 0, 200},
    {"stage", T, FS_COL_NOTNULL, 16}, /* lead, qualified, proposal, negotiation, won, lost */
    {"value", I, 0, 0},               /* minor units of currency */
    {"currency", T, 0, 3},
    {"probability", I, 0, 0}, /* percent, 0-100 */
    {"close_date", T, 0, 10},
    {"lost_reason", T, 0, 2000},
    {"created_at", T, 0, 32},
    {"manager", T, 0, 100},
};

static const fs_column products[] = {
    {"sku", T, FS_COL_NOTNULL | FS_COL_INDEX, 64},
    {"name", T, FS_COL_NOTNULL, 200},
    {"unit", T, 0, 20},
    {"active", I, FS_COL_NOTNULL, 0},
};
static const fs_column prices[] = {
    {"sku", T, FS_COL_NOTNULL | FS_COL_INDEX, 64},
    {"currency", T, FS_COL_NOTNULL, 3},
    {"price", I, FS_COL_NOTNULL, 0},
};
static const fs_column balances[] = {
    {"customer_id", T, FS_COL_NOTNULL | FS_COL_CUSTOMER, 64},
    {"currency", T, FS_COL_NOTNULL, 3},
    {"open", I, FS_COL_NOTNULL, 0},
    {"overdue", I, FS_COL_NOTNULL, 0},
};
/* version 3: the day's norms head office sets for a manager (`fieldsync-server
 * norms set`); the row whose manager is "*" holds everyone's default. */
static const fs_column norms[] = {
    {"manager", T, FS_COL_NOTNULL | FS_COL_INDEX, 100},
    {"calls_day", I, 0, 0},
    {"meetings_day", I, 0, 0},
    {"proposals_day", I, 0, 0},
    {"contracts_month", I, 0, 0},
};

static const fs_table tables[] = {
    {"customers", FS_OWNER_SHARED, customers, N(customers)},
    {"contacts", FS_OWNER_SHARED, contacts, N(contacts)},
    {"meetings", FS_OWNER_DEVICE, meetings, N(meetings)},
    {"orders", FS_OWNER_DEVICE, orders, N(orders)},
    {"order_lines", FS_OWNER_DEVICE, order_lines, N(order_lines)},
    {"complaints", FS_OWNER_DEVICE, complaints, N(complaints)},
    {"competitor_notes", FS_OWNER_DEVICE, competitor_notes, N(competitor_notes)},
    {"products", FS_OWNER_HQ, products, N(products)},
    {"prices", FS_OWNER_HQ, prices, N(prices)},
    {"balances", FS_OWNER_HQ, balances, N(balances)},
    /* version 3 */
    {"tasks", FS_OWNER_DEVICE, tasks, N(tasks)},
    {"quotes", FS_OWNER_DEVICE, quotes, N(quotes)},
    {"quote_lines", FS_OWNER_DEVICE, quote_lines, N(quote_lines)},
    {"deals", FS_OWNER_DEVICE, deals, N(deals)},
    {"norms", FS_OWNER_HQ, norms, N(norms)},
};

/* 1: the first declaration; 2: orders get a number; complaints get status, resolution,
 * resolved_at and manager; competitor notes product, price, currency and
 * manager; 3: tasks, quotes and their lines, deals, head office's norms; a
 * call's duration; an order's quote and deal. */
static const fs_schema fieldsales = {"fieldsales", 3, tables, N(tables)};

const fs_schema *fs_schema_fieldsales(void) { return &fieldsales; }
