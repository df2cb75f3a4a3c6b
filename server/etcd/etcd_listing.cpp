#include "etcd_listing.hpp"

#include <algorithm>
#include <map>

#include "protocol.hpp"

namespace tnl::etcd {

HoldRecord hold_record(const LockValue& value, std::int64_t create_revision,
                       std::chrono::system_clock::time_point as_of) {
  HoldRecord record;
  // A key we did not write has no id of ours: one from its create revision (unique, and
  // never a valid id of ours: version 0) lets readers tell such keys apart.
  record.id = value.id ? *value.id : LockId{0, static_cast<std::uint64_t>(create_revision)};
  record.kind = value.kind;
  record.client_id = value.client_id;
  record.peer = value.peer;
  record.reason = value.reason;
  record.since = value.foreign && value.since_ms == 0 ? as_of : from_ms(value.since_ms);
  record.token = static_cast<FencingToken>(create_revision);
  record.token_durable = true;  // a create revision is never handed out again
  record.fenced = value.fenced;
  if (value.expires_ms) record.expires = from_ms(*value.expires_ms);
  return record;
}

Listing build_listing(const KeyLayout& layout, const std::vector<KeyEntry>& entries,
                      const std::optional<std::string>& only, std::chrono::system_clock::time_point as_of) {
  // Each name's keys, then sorted by create revision.
  std::map<std::string_view, std::vector<const KeyEntry*>> by_name;
  for (const auto& entry : entries) {
    const ParsedKey parsed = layout.parse(entry.key);
    if (parsed.kind != ParsedKey::Kind::lock || !is_valid_lock_name(parsed.name)) continue;
    if (only && parsed.name != *only) continue;
    by_name[parsed.name].push_back(&entry);
  }
  Listing listing;
  listing.names.reserve(by_name.size());
  auto& totals = listing.totals;
  const auto oldest = [](std::optional<std::chrono::system_clock::time_point>& slot,
                         std::chrono::system_clock::time_point since) {
    if (!slot || since < *slot) slot = since;
  };
  for (auto& [name, keys] : by_name) {
    std::sort(keys.begin(), keys.end(),
              [](const KeyEntry* a, const KeyEntry* b) { return a->create_revision < b->create_revision; });
    NameRecord record;
    record.name = std::string(name);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const LockValue value = decode(keys[i]->value);
      if (i == 0) record.limit = value.limit;
      HoldRecord hold = hold_record(value, keys[i]->create_revision, as_of);
      if (i >= record.limit) {
        hold.token = 0;  // waiters have none
        record.waiters.push_back(std::move(hold));
      } else if (hold.kind == HoldKind::delay) {
        record.delays.push_back(std::move(hold));
      } else {
        if (hold.kind == HoldKind::connection) {
          ++totals.connection_holds;
          oldest(totals.oldest_connection_hold, hold.since);
        } else {
          ++totals.detached_holds;
          oldest(totals.oldest_detached_hold, hold.since);
        }
        record.holders.push_back(std::move(hold));
      }
    }
    std::stable_sort(record.delays.begin(), record.delays.end(), [](const HoldRecord& a, const HoldRecord& b) {
      return a.expires.value_or(std::chrono::system_clock::time_point::max()) <
             b.expires.value_or(std::chrono::system_clock::time_point::max());
    });
    if (!record.holders.empty()) ++totals.held_names;
    totals.delays += record.delays.size();
    totals.waiters += record.waiters.size();
    listing.names.push_back(std::move(record));
  }
  return listing;
}

}  // namespace tnl::etcd
