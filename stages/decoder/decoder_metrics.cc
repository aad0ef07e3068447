#include "stages/decoder/decoder_metrics.h"

#include <string>

namespace stages::decoder {
namespace {

// java-tron's Transaction.Contract.ContractType names (tron-api.md §4): the bounded label set.
constexpr std::string_view kContractTypes[] = {
    "AccountCreateContract",        "TransferContract",
    "TransferAssetContract",        "VoteAssetContract",
    "VoteWitnessContract",          "WitnessCreateContract",
    "AssetIssueContract",           "WitnessUpdateContract",
    "ParticipateAssetIssueContract", "AccountUpdateContract",
    "FreezeBalanceContract",        "UnfreezeBalanceContract",
    "WithdrawBalanceContract",      "UnfreezeAssetContract",
    "UpdateAssetContract",          "ProposalCreateContract",
    "ProposalApproveContract",      "ProposalDeleteContract",
    "SetAccountIdContract",         "CustomContract",
    "CreateSmartContract",          "TriggerSmartContract",
    "GetContract",                  "UpdateSettingContract",
    "ExchangeCreateContract",       "ExchangeInjectContract",
    "ExchangeWithdrawContract",     "ExchangeTransactionContract",
    "UpdateEnergyLimitContract",    "AccountPermissionUpdateContract",
    "ClearABIContract",             "UpdateBrokerageContract",
    "ShieldedTransferContract",     "MarketSellAssetContract",
    "MarketCancelOrderContract",    "FreezeBalanceV2Contract",
    "UnfreezeBalanceV2Contract",    "WithdrawExpireUnfreezeContract",
    "DelegateResourceContract",     "UnDelegateResourceContract",
    "CancelAllUnfreezeV2Contract",
};

}  // namespace

pipeline::metrics::Counter& DecoderMetrics::transactionsOf(std::string_view type) const {
  const auto found = transactions_by_type.find(type);
  return found != transactions_by_type.end() ? *found->second : *other_transactions;
}

DecoderMetrics DecoderMetrics::create(pipeline::metrics::Registry& registry) {
  DecoderMetrics metrics{
      .decoded_blocks = registry.counter("point_tron_decoder_decoded_blocks_total",
                                         "Blocks decoded into block.v1 and acknowledged on blocks."),
      .retractions = registry.counter("point_tron_decoder_retractions_total",
                                      "Retractions passed on to blocks and acknowledged."),
      .decoded_bytes = registry.counter("point_tron_decoder_decoded_bytes_total",
                                        "Bytes of the blocks.raw values that decoded into a block."),
      .decode_duration = registry.histogram("point_tron_decoder_decode_duration_seconds",
                                            "Time to decode one blocks.raw value, any outcome.",
                                            pipeline::metrics::latencyBuckets()),
  };
  for (std::size_t i = 0; i < kRejectReasons; ++i) {
    metrics.rejected[i] = &registry.counter(
        "point_tron_decoder_rejected_blocks_total", "blocks.raw values sent to the DLQ, by reason.",
        {{"reason", std::string(rejectReasonName(static_cast<RejectReason>(i)))}});
  }
  constexpr std::string_view kHelp = "Transactions in decoded blocks, by contract type.";
  for (std::string_view type : kContractTypes) {
    metrics.transactions_by_type.emplace(
        type, &registry.counter("point_tron_decoder_transactions_total", kHelp,
                                {{"type", std::string(type)}}));
  }
  metrics.other_transactions =
      &registry.counter("point_tron_decoder_transactions_total", kHelp, {{"type", "Other"}});
  return metrics;
}

}  // namespace stages::decoder
