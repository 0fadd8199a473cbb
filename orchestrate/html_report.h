// Self-contained HTML report (no network, no scripts from elsewhere): a
// per-user status table, a timeline of users coming back, and the filesystem
// damage map by block group. Input is the JSON report of SPEC.md, plus the
// optional rescue fields "timeline" ([{user, target, status, done_at}]) and
// "filesystem": {"groups": N, "damaged_groups": {"<g>": count}}.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mr::orchestrate {

std::string RenderHtmlReport(const nlohmann::json& report);

}  // namespace mr::orchestrate
