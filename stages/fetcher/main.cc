// pointtron-fetcher: TRON nodes -> blocks.raw, every height exactly once and in order.
#include "pipeline/runtime.h"
#include "stages/fetcher/fetch_loop.h"
#include "stages/fetcher/fetcher_config.h"

int main(int argc, char** argv) {
  return pipeline::runStage(
      argc, argv,
      {.name = "fetcher",
       .default_http_port = 9101,
       .description = "Fetches every TRON block from a pool of nodes onto blocks.raw."},
      [](pipeline::Runtime& rt) -> pipeline::Status {
        auto config = stages::fetcher::FetcherConfig::parse(rt.config());
        if (!config) return config.status();
        auto loop = stages::fetcher::FetchLoop::create(rt, std::move(*config));
        if (!loop) return loop.status();
        std::shared_ptr<stages::fetcher::FetchLoop> fetcher = *loop;
        rt.keep(fetcher);
        rt.health().add("tron_nodes", [fetcher] { return fetcher->readiness(); });
        rt.onDrain([fetcher](std::function<void()> done) { fetcher->drain(std::move(done)); });
        fetcher->start();
        return pipeline::Status::ok();
      });
}
