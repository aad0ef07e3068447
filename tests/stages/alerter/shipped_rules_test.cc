#include "stages/alerter/shipped_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "stages/alerter/rules.h"

namespace stages::alerter {
namespace {

// Every alert the project promises is shipped, parses, has a runbook section and a severity.
TEST(ShippedRulesTest, ParseAndCoverEveryPromisedAlert) {
  auto rules = parseRules(shippedRules(), kShippedRulesOrigin);
  ASSERT_TRUE(rules) << rules.error().message;
  std::set<std::string> names;
  for (const auto& group : rules->groups) {
    for (const auto& rule : group.rules) {
      names.insert(rule.name);
      EXPECT_TRUE(rule.labels.contains("severity")) << rule.name;
      EXPECT_TRUE(rule.annotations.contains("runbook_url")) << rule.name;
      EXPECT_TRUE(rule.annotations.contains("summary")) << rule.name;
    }
  }
  for (const char* promised : {"PipelineStalled", "HeadLagHigh", "RpcNodesDown", "DatabaseDown", "BackupStale",
                               "BackupFailing", "RestoreDrillFailing", "DiskSpaceLow", "HighErrorRate",
                               "DLQGrowing", "ParityAnomaly"}) {
    EXPECT_TRUE(names.contains(promised)) << promised;
  }
}

// Every runbook_url points at a section of docs/runbooks.md (GitHub's anchor: the heading in
// lower case).
TEST(ShippedRulesTest, RunbookLinksResolve) {
  std::ifstream file(POINTTRON_SOURCE_DIR "/docs/runbooks.md");
  ASSERT_TRUE(file);
  std::set<std::string> anchors;
  for (std::string line; std::getline(file, line);) {
    if (!line.starts_with("## ")) continue;
    std::string anchor = line.substr(3);
    std::transform(anchor.begin(), anchor.end(), anchor.begin(), [](unsigned char c) { return std::tolower(c); });
    anchors.insert(anchor);
  }
  const std::regex link(R"(runbook_url: docs/runbooks\.md#([a-z0-9-]+))");
  const std::string text(shippedRules());
  int links = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), link); it != std::sregex_iterator(); ++it) {
    ++links;
    EXPECT_TRUE(anchors.contains((*it)[1].str())) << (*it)[1].str();
  }
  EXPECT_GE(links, 11);
}

}  // namespace
}  // namespace stages::alerter
