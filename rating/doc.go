// Package rating turns metered usage into money and allowance: the tariff
// catalogue (plans, zones, price lists), the rules that rate a period's
// usage, balances, vouchers and credits, and the thresholds that alert a
// subscriber and bar mobile data.
//
// Charges are a pure function of a period's aggregated usage and the tariff
// (Rate): the rater recomputes a period's charges whenever usage in it
// changes and replaces the stored ones, so late, replayed or reordered
// records never charge twice and a corrected tariff can be re-rated. See
// docs/rating.md.
//
// rating imports only the standard library, the metering domain and
// gopkg.in/yaml.v3 (to read catalogue files); rating/postgres and
// rating/clickhouse hold the storage.
package rating
