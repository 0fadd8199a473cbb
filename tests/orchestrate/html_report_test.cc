#include "orchestrate/html_report.h"

#include <gtest/gtest.h>

namespace mr::orchestrate {
namespace {

TEST(HtmlReport, HasUserTableTimelineAndDamageMapAndEscapes) {
  nlohmann::json r = {
      {"tool", "mailrescue"},
      {"version", "0.1.0"},
      {"command", "rescue"},
      {"users",
       {{{"user", "bob"},
         {"status", "ok"},
         {"folders", {{{"name", "INBOX"}, {"kept", 10}, {"from_salvage", 3}, {"from_backup", 7},
                       {"dropped_deleted", 1}, {"renumbered", {5}}, {"unrecoverable", nlohmann::json::array()}}}}},
        {{"user", "<evil>"}, {"status", "attention"}, {"folders", nlohmann::json::array()}}}},
      {"timeline", {{{"user", "bob"}, {"target", "t1"}, {"status", "ok"}, {"done_at", 100}},
                    {{"user", "<evil>"}, {"target", "t1"}, {"status", "attention"}, {"done_at", 160}}}},
      {"filesystem", {{"superblock_used", 32768}, {"groups", 8}, {"damaged_groups", {{"3", 2}}},
                      {"damage", {{{"kind", "dir_block_unreadable"}, {"ino", 12}}}}}},
      {"totals", {{"users", 2}}}};
  std::string html = RenderHtmlReport(r);
  EXPECT_NE(html.find("<table id=\"users\">"), std::string::npos);
  EXPECT_NE(html.find("<td>bob</td><td>ok</td><td>1</td><td>10</td><td>3</td><td>7</td><td>1</td><td>1</td>"),
            std::string::npos);
  EXPECT_EQ(html.find("<evil>"), std::string::npos);
  EXPECT_NE(html.find("&lt;evil&gt;"), std::string::npos);
  EXPECT_NE(html.find("id=\"timeline\""), std::string::npos);
  EXPECT_NE(html.find("+60 s"), std::string::npos);
  EXPECT_NE(html.find("group 3: 2 damaged items"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // self-contained: nothing fetched
}

}  // namespace
}  // namespace mr::orchestrate
