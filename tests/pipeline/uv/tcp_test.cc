#include "pipeline/uv/tcp.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace pipeline::uv {
namespace {

// Accept, read, write with completion and shutdown work on a loopback connection.
TEST(TcpTest, AcceptReadWriteShutdown) {
  testsupport::LoopRunner runner;
  auto listener = Tcp::create(runner.loop());
  ASSERT_TRUE(listener);
  ASSERT_TRUE(listener->bind("127.0.0.1", 0));
  std::optional<Tcp> peer;
  std::string received;
  std::string peer_address;
  bool written = false;
  bool shut = false;
  ASSERT_TRUE(listener->listen(16, [&](Status status) {
    ASSERT_TRUE(status);
    auto accepted = listener->accept();
    ASSERT_TRUE(accepted);
    peer.emplace(std::move(*accepted));
    peer_address = peer->peerAddress();
    ASSERT_TRUE(peer->readStart(
        [&](std::string_view data) {
          received.append(data);
          if (received == "ping") {
            ASSERT_TRUE(peer->write("pong", [&](Status s) { written = s.isOk(); }));
            ASSERT_TRUE(peer->shutdown([&](Status s) { shut = s.isOk(); }));
          }
        },
        [](Status) {}));
  }));
  auto port = listener->localPort();
  ASSERT_TRUE(port);

  std::optional<std::string> reply;
  bool closed = false;
  testsupport::BackgroundTask client([&] {
    testsupport::RawConnection c(*port);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("ping"));
    // "pong" is not HTTP: readResponse fails, but waitClosed proves the FIN came after it.
    closed = c.waitClosed();
  });
  ASSERT_TRUE(runner.runUntil([&] { return client.done() && written && shut; }));
  EXPECT_EQ("ping", received);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(peer_address.starts_with("127.0.0.1:")) << peer_address;
}

// Closing the wrapper with a write queued never calls the write's callback.
TEST(TcpTest, CloseSuppressesPendingCallbacks) {
  testsupport::LoopRunner runner;
  auto listener = Tcp::create(runner.loop());
  ASSERT_TRUE(listener);
  ASSERT_TRUE(listener->bind("127.0.0.1", 0));
  std::optional<Tcp> peer;
  ASSERT_TRUE(listener->listen(16, [&](Status) {
    auto accepted = listener->accept();
    ASSERT_TRUE(accepted);
    peer.emplace(std::move(*accepted));
  }));
  auto port = listener->localPort();
  ASSERT_TRUE(port);
  testsupport::RawConnection c(*port);  // connect completes in the kernel backlog
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(runner.runUntil([&] { return peer.has_value(); }));
  bool called = false;
  // Larger than the socket buffers, so it stays queued in libuv.
  ASSERT_TRUE(peer->write(std::string(16 * 1024 * 1024, 'x'), [&](Status) { called = true; }));
  EXPECT_GT(peer->writeQueueSize(), 0u);
  peer->close();
  EXPECT_FALSE(peer->valid());
  bool probe = false;
  auto timer = Timer::create(runner.loop());
  ASSERT_TRUE(timer);
  ASSERT_TRUE(timer->start(10, 0, [&] { probe = true; }));
  ASSERT_TRUE(runner.runUntil([&] { return probe; }));
  EXPECT_FALSE(called);
}

// Binding to something that is not a numeric address is an InvalidArgument.
TEST(TcpTest, BindRejectsNames) {
  testsupport::LoopRunner runner;
  auto tcp = Tcp::create(runner.loop());
  ASSERT_TRUE(tcp);
  auto status = tcp->bind("localhost", 0);
  ASSERT_FALSE(status);
  EXPECT_EQ(ErrorType::InvalidArgument, status.error().type);
}

}  // namespace
}  // namespace pipeline::uv
