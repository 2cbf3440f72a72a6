-- The summary line every script prints: one JSON object after "JSON ".
return function(summary, latency, requests)
  io.write(string.format(
    "JSON {\"requests\":%d,\"duration_s\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"err_status\":%d,\"err_timeout\":%d}\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status, summary.errors.timeout))
end
