// Package analytics measures how the shop sells over a period: revenue
// and orders per currency, average order value, conversion from hold to
// paid, drop sell-through and time to sell out, stock-out minutes, attach
// rate, repeat purchases, return rates by packaging, pickups within SLA,
// time to fulfilled, and revenue over time for charts.
//
// Every figure is one SQL aggregate over the rows that record it (orders,
// cart lines, hub sales, fulfilments, returns, stock-out intervals), the
// same text on SQLite and PostgreSQL but for how a timestamp becomes
// seconds; nothing loads the rows into Go. A report covers [From, To)
// and, optionally, one drop, one stream or one location (a hub); Report
// documents each figure's exact definition.
//
// Reading is for owners and staff: clerks, customers and hub tokens are
// refused (checkout.RequireStaff).
package analytics
