#include "stages/fetcher/resume.h"

#include <simdjson.h>

#include <limits>
#include <map>

#include "pipeline/json.h"

namespace stages::fetcher {

std::string retractionValue(const BlockRef& orphan) {
  pipeline::json::Writer writer;
  writer.beginObject()
      .field("schema", "block.raw.retraction.v1")
      .field("removed", true)
      .field("height", orphan.height)
      .field("block_id", orphan.block_id)
      .endObject();
  return std::move(writer).str();
}

pipeline::Result<TailRecord> tailRecordFrom(std::string_view value, BlockParser& parser) {
  try {
    simdjson::dom::parser dom;
    const simdjson::padded_string padded(value);
    simdjson::dom::object object;
    if (dom.parse(padded).get_object().get(object) == simdjson::SUCCESS) {
      bool removed = false;
      if (object["removed"].get_bool().get(removed) == simdjson::SUCCESS && removed) {
        std::int64_t height = 0;
        std::string_view id;
        if (object["height"].get_int64().get(height) != simdjson::SUCCESS ||
            object["block_id"].get_string().get(id) != simdjson::SUCCESS) {
          return pipeline::Error{pipeline::ErrorType::InvalidPayload,
                                 "retraction without height or block_id"};
        }
        return TailRecord{height, std::string(id), true};
      }
    }
  } catch (const std::exception& e) {
    return pipeline::Error{pipeline::ErrorType::InvalidPayload, e.what()};
  }
  auto answer = parser.parseBody(value);
  if (answer.kind != AnswerKind::Blocks || answer.blocks.size() != 1) {
    return pipeline::Error{pipeline::ErrorType::InvalidPayload,
                           "blocks.raw value is neither a block nor a retraction: " +
                               (answer.message.empty() ? std::string(answerKindName(answer.kind))
                                                       : answer.message)};
  }
  return TailRecord{answer.blocks[0].height, answer.blocks[0].block_id, false};
}

Tail analyzeTail(const std::vector<std::vector<TailRecord>>& partitions, std::size_t keep) {
  std::map<std::int64_t, const TailRecord*> latest;
  // Heights spread over partitions by key hash, so the window of one partition reaches less far
  // back than another's. Above the highest window start every existing height was read; a
  // height missing there is a real gap (a later height was acknowledged, an earlier one failed).
  std::int64_t complete_from = std::numeric_limits<std::int64_t>::min();
  for (const auto& records : partitions) {
    for (const auto& record : records) latest[record.height] = &record;
    if (records.size() >= keep && !records.empty()) {
      std::int64_t lowest = records.front().height;
      for (const auto& record : records) lowest = std::min(lowest, record.height);
      complete_from = std::max(complete_from, lowest);
    }
  }
  // Resume below the first gap; what is present above it is remembered, not re-published.
  Tail tail;
  for (auto it = latest.lower_bound(complete_from); it != latest.end(); ++it) {
    auto next = std::next(it);
    if (next != latest.end() && next->first != it->first + 1) {
      for (auto above = next; above != latest.end(); ++above) {
        if (!above->second->retraction) {
          tail.present_above.emplace(above->first, above->second->block_id);
        }
      }
      latest.erase(next, latest.end());
      break;
    }
  }
  auto it = latest.rbegin();
  while (it != latest.rend() && it->second->retraction) ++it;
  if (it == latest.rend()) return tail;
  tail.tip = BlockRef{it->first, it->second->block_id};
  std::vector<BlockRef> descending;
  std::int64_t expected = it->first;
  for (; it != latest.rend() && descending.size() < keep; ++it) {
    if (it->first != expected || it->second->retraction) break;
    descending.push_back(BlockRef{it->first, it->second->block_id});
    --expected;
  }
  tail.recent.assign(descending.rbegin(), descending.rend());
  return tail;
}

pipeline::Result<StartPoint> decideStart(const StartSetting& setting, const Tail& tail,
                                         std::optional<std::int64_t> target) {
  if (tail.tip) return StartPoint{tail.tip->height + 1, tail.recent};
  switch (setting.mode) {
    case StartSetting::Mode::Height: return StartPoint{setting.height, {}};
    case StartSetting::Mode::Head:
      if (!target || *target < 0) {
        return pipeline::Error{pipeline::ErrorType::Unavailable,
                               "the head is not known yet; cannot start at the head"};
      }
      return StartPoint{*target, {}};
    case StartSetting::Mode::Resume: break;
  }
  return pipeline::Error{pipeline::ErrorType::InvalidConfig,
                         "fetcher.start: resume needs blocks in blocks.raw, but it is empty "
                         "(set a height or head)"};
}

}  // namespace stages::fetcher
