-- wrk script: the storefront catalog page (20 products × 3 variants, images,
-- stock) as a GraphQL POST. Prints p50/p99 at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"query":"query Storefront { products(first: 20) { edges { cursor node { id title slug description images { url alt } variants { id sku title selectedOptions { name value } price { amount currency } compareAtPrice { amount currency } available } } } pageInfo { hasNextPage endCursor } } }"}]]

local bad = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"available"', 1, true) or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("requests/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50: %.2f ms  p99: %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("non-2xx or error responses: %d\n", summary.errors.status + bad))
end
