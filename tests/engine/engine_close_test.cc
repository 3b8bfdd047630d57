// How the engine ends a connection, against tools/smtp_test_server on
// loopback, through the ring (kernel 6.7: IORING_OP_CLOSE and the socket
// command for SO_LINGER) and through close(2) and setsockopt(2): the
// server's close after QUIT is answered with RST, and every descriptor is
// closed by the time Run returns, with the engine still alive.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "smtp/session.h"

namespace smtpscan::engine {
namespace {

using test::TestServer;

int OpenDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n;
}

class EngineCloseTest : public testing::TestWithParam<bool> {};

TEST_P(EngineCloseTest, ResetAfterTheServersCloseAndNoDescriptorLeft) {
  TestServer server({"127.0.0.1:0=fast"});
  ASSERT_TRUE(server.ok());
  const TestServer::Endpoint endpoint = server.Of("fast").at(0);
  smtp::SessionConfig config;
  config.ehlo_name = "scanner.example.test";
  config.starttls = smtp::StartTlsPolicy::kNever;

  EngineOptions options;
  options.close_through_ring = GetParam();
  options.per_address = 4;
  constexpr size_t kProbes = 40;
  std::vector<ProbeOutcome> outcomes;
  auto engine = Engine::Create(std::move(options), [&](ProbeOutcome o) {
    outcomes.push_back(std::move(o));
  });
  ASSERT_TRUE(engine.ok()) << engine.status();
  const int before = OpenDescriptors();
  size_t next = 0;
  const absl::Status status = (*engine)->Run([&] {
    if (next == kProbes) return false;
    Probe p;
    p.id = next++;
    auto& a = reinterpret_cast<sockaddr_in&>(p.address);
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(endpoint.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.config = &config;
    (*engine)->Submit(std::move(p));
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  // Before the engine goes: closes still queued in the ring would show.
  EXPECT_EQ(OpenDescriptors(), before);
  ASSERT_EQ(outcomes.size(), kProbes);
  for (const ProbeOutcome& o : outcomes) {
    EXPECT_EQ(o.session.status, ScanStatus::kSuccess);
    ASSERT_TRUE(o.session.quit.has_value());
    EXPECT_EQ(o.session.quit->code, 221);
  }
  // With FIN for FIN, the server's side would wait out TIME_WAIT.
  EXPECT_EQ(test::ClosingSocketsOf(endpoint), 0);
}

INSTANTIATE_TEST_SUITE_P(RingAndSystemCalls, EngineCloseTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Ring" : "SystemCalls";
                         });

}  // namespace
}  // namespace smtpscan::engine
