#include "cli/table_format.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/json_writer.h"

namespace gridrpc::cli {
namespace {

// gridrpc::kZoneLabel (core/include/gridrpc/partition_table.h), without linking the core for it.
constexpr char kZoneLabel[] = "zone";

// Bounds what a typo in a range ("0-2000000") can make the partition list hold.
constexpr int kMaxPartition = 1 << 20;

// What the table says member `index` holds.
struct Roles {
  std::vector<int> primary_of;
  std::vector<int> backup_of;
};

std::vector<Roles> RolesOf(const v1::PartitionTable& table) {
  std::vector<Roles> roles(table.members_size());
  for (int p = 0; p < table.partitions_size(); ++p) {
    const auto& replicas = table.partitions(p).members();
    for (int r = 0; r < replicas.size(); ++r) {
      const int m = replicas[r];
      if (m < 0 || m >= table.members_size()) continue;  // a broken table: shown by `table`
      (r == 0 ? roles[m].primary_of : roles[m].backup_of).push_back(p);
    }
  }
  return roles;
}

// Member `index`'s id, or "?index" for an index the table does not list.
std::string MemberId(const v1::PartitionTable& table, int index) {
  if (index < 0 || index >= table.members_size()) return absl::StrCat("?", index);
  return table.members(index).id();
}

std::vector<int> LostPartitions(const v1::PartitionTable& table) {
  std::vector<int> lost;
  for (int p = 0; p < table.partitions_size(); ++p) {
    if (table.partitions(p).lost()) lost.push_back(p);
  }
  return lost;
}

void WriteIntArray(JsonWriter& json, const std::vector<int>& values) {
  json.BeginArray();
  for (int v : values) json.Int(v);
  json.EndArray();
}

// Opens the document: which table, then the members array (left open). `members` calls the
// version "table_version", as its subject is the members; `table` calls it "version".
void BeginTableDocument(JsonWriter& json, const v1::PartitionTable& table,
                        absl::string_view version_key) {
  json.BeginObject()
      .Key(version_key)
      .Int(table.version())
      .Key("cluster_name")
      .String(table.cluster_name())
      .Key("partition_count")
      .Int(table.partition_count())
      .Key("members")
      .BeginArray();
}

// Opens a member's object with where it is; the caller adds more and closes it.
void BeginMember(JsonWriter& json, const v1::MemberInfo& member) {
  json.BeginObject()
      .Key("id")
      .String(member.id())
      .Key("address")
      .String(member.address())
      .Key("peer_address")
      .String(member.peer_address());
}

std::string Summary(const v1::PartitionTable& table) {
  return absl::StrFormat("table version %d of cluster '%s': %d partitions, %d member%s",
                         table.version(), table.cluster_name(), table.partition_count(),
                         table.members_size(), table.members_size() == 1 ? "" : "s");
}

// "3: 0-2" or "0".
std::string CountAndRanges(const std::vector<int>& partitions) {
  if (partitions.empty()) return "0";
  return absl::StrCat(partitions.size(), ": ", FormatRanges(partitions));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> MemberLabels(const v1::MemberInfo& member) {
  std::vector<std::pair<std::string, std::string>> labels(member.labels().begin(),
                                                          member.labels().end());
  std::sort(labels.begin(), labels.end());
  return labels;
}

std::string MemberZone(const v1::MemberInfo& member) {
  auto zone = member.labels().find(kZoneLabel);
  return zone == member.labels().end() ? "" : zone->second;
}

std::string FormatRanges(const std::vector<int>& sorted) {
  std::vector<std::string> ranges;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    ranges.push_back(j == i ? absl::StrCat(sorted[i]) : absl::StrCat(sorted[i], "-", sorted[j]));
    i = j + 1;
  }
  return absl::StrJoin(ranges, ",");
}

absl::StatusOr<std::vector<int>> ParsePartitionList(absl::string_view text) {
  std::set<int> partitions;
  auto bad = [&](absl::string_view item, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", item, "' in the partition list '", text, "' ", why));
  };
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) return bad(item, "is empty: list partitions as 3,7 or ranges as 0-5");
    const size_t dash = item.find('-');
    const absl::string_view from = item.substr(0, dash);
    const absl::string_view to = dash == absl::string_view::npos ? from : item.substr(dash + 1);
    int first = 0;
    int last = 0;
    if (!absl::SimpleAtoi(from, &first) || !absl::SimpleAtoi(to, &last) || first < 0 ||
        last < first) {
      return bad(item, "is not a partition (0, 1, ...) or a range of them (0-5)");
    }
    if (last > kMaxPartition) {
      return bad(item, absl::StrCat("goes past ", kMaxPartition, ", more than any table holds"));
    }
    for (int p = first; p <= last; ++p) {
      if (!partitions.insert(p).second) return bad(item, absl::StrCat("lists ", p, " again"));
    }
  }
  return std::vector<int>(partitions.begin(), partitions.end());
}

std::string FormatMembers(const v1::PartitionTable& table, OutputFormat format) {
  const std::vector<Roles> roles = RolesOf(table);
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    BeginTableDocument(json, table, "table_version");
    for (int m = 0; m < table.members_size(); ++m) {
      const v1::MemberInfo& member = table.members(m);
      BeginMember(json, member);
      json.Key("zone").String(MemberZone(member)).Key("labels").BeginObject();
      for (const auto& [k, v] : MemberLabels(member)) json.Key(k).String(v);
      json.EndObject().Key("primary_of");
      WriteIntArray(json, roles[m].primary_of);
      json.Key("backup_of");
      WriteIntArray(json, roles[m].backup_of);
      json.EndObject();
    }
    json.EndArray().EndObject();
    return json.str() + "\n";
  }
  std::string out = Summary(table) + "\n";
  for (int m = 0; m < table.members_size(); ++m) {
    const v1::MemberInfo& member = table.members(m);
    std::vector<std::string> labels;
    for (const auto& [k, v] : MemberLabels(member)) labels.push_back(absl::StrCat(k, "=", v));
    const std::string zone = MemberZone(member);
    absl::StrAppendFormat(&out,
                          "\nmember %s\n"
                          "  address       %s\n"
                          "  peer address  %s\n"
                          "  zone          %s\n"
                          "  labels        %s\n"
                          "  primary of    %s\n"
                          "  backup of     %s\n",
                          member.id(), member.address(), member.peer_address(),
                          zone.empty() ? "-" : zone,
                          labels.empty() ? "-" : absl::StrJoin(labels, ","),
                          CountAndRanges(roles[m].primary_of), CountAndRanges(roles[m].backup_of));
  }
  return out;
}

std::string FormatTable(const v1::PartitionTable& table, OutputFormat format) {
  const std::vector<int> lost = LostPartitions(table);
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    BeginTableDocument(json, table, "version");
    for (const v1::MemberInfo& member : table.members()) {
      BeginMember(json, member);
      json.EndObject();
    }
    json.EndArray().Key("partitions").BeginArray();
    for (int p = 0; p < table.partitions_size(); ++p) {
      const v1::PartitionReplicas& replicas = table.partitions(p);
      json.BeginObject().Key("partition").Int(p).Key("replicas").BeginArray();
      for (int m : replicas.members()) json.String(MemberId(table, m));
      json.EndArray().Key("lost").Bool(replicas.lost()).Key("last_holders").BeginArray();
      for (const std::string& holder : replicas.last_holders()) json.String(holder);
      json.EndArray().EndObject();
    }
    json.EndArray().Key("lost_partitions");
    WriteIntArray(json, lost);
    json.EndObject();
    return json.str() + "\n";
  }
  std::string out =
      absl::StrCat(Summary(table), ", ", lost.size(), " lost",
                   lost.empty() ? "" : absl::StrCat(" (", FormatRanges(lost), ")"), "\nmembers:\n");
  for (const v1::MemberInfo& member : table.members()) {
    absl::StrAppendFormat(&out, "  %s  %s  peer %s\n", member.id(), member.address(),
                          member.peer_address());
  }
  out += "partition  replicas (primary first)\n";
  for (int p = 0; p < table.partitions_size(); ++p) {
    const v1::PartitionReplicas& replicas = table.partitions(p);
    std::vector<std::string> ids;
    for (int m : replicas.members()) ids.push_back(MemberId(table, m));
    absl::StrAppendFormat(&out, "%9d  %s", p, ids.empty() ? "-" : absl::StrJoin(ids, " "));
    if (replicas.lost()) {
      absl::StrAppend(
          &out, "  LOST",
          replicas.last_holders().empty()
              ? ""
              : absl::StrCat(" (last held by ", absl::StrJoin(replicas.last_holders(), " "), ")"));
    }
    out += "\n";
  }
  return out;
}

}  // namespace gridrpc::cli
