#include "output/record.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "output/record_fixtures.h"
#include "scan/scan_status.h"

namespace smtpscan::output {
namespace {

using fixtures::HttpProbe;
using fixtures::PostfixProbe;
using fixtures::RefusedProbe;

TEST(SummarizeProbesTest, NoProbesIsSuccessWithoutDetail) {
  const ProbeSummary s = SummarizeProbes({});
  EXPECT_EQ(s.status, ScanStatus::kSuccess);
  EXPECT_EQ(s.status_detail, "");
}

TEST(SummarizeProbesTest, OneProbeIsItsOutcome) {
  ProbeSummary s = SummarizeProbes(std::vector<ProbeResult>{PostfixProbe()});
  EXPECT_EQ(s.status, ScanStatus::kSuccess);
  EXPECT_EQ(s.status_detail, "");

  s = SummarizeProbes(std::vector<ProbeResult>{RefusedProbe()});
  EXPECT_EQ(s.status, ScanStatus::kConnectionRefused);
  EXPECT_EQ(s.status_detail, "ECONNREFUSED");
}

TEST(SummarizeProbesTest, AnySuccessWins) {
  for (size_t at = 0; at < 3; ++at) {
    SCOPED_TRACE(at);
    std::vector<ProbeResult> probes = {RefusedProbe(), HttpProbe(),
                                       RefusedProbe()};
    probes.insert(probes.begin() + at, PostfixProbe());
    const ProbeSummary s = SummarizeProbes(probes);
    EXPECT_EQ(s.status, ScanStatus::kSuccess);
    // A success has nothing to explain, whatever the failures said.
    EXPECT_EQ(s.status_detail, "");
  }
}

TEST(SummarizeProbesTest, OtherwiseTheFirstProbesStatusAndDetail) {
  std::vector<ProbeResult> probes = {HttpProbe(), RefusedProbe()};
  ProbeSummary s = SummarizeProbes(probes);
  EXPECT_EQ(s.status, ScanStatus::kProtocolError);
  EXPECT_EQ(s.status_detail, "http");

  std::swap(probes[0], probes[1]);
  s = SummarizeProbes(probes);
  EXPECT_EQ(s.status, ScanStatus::kConnectionRefused);
  EXPECT_EQ(s.status_detail, "ECONNREFUSED");

  // The first probe's detail even when empty, never a later one's.
  probes[0].session.status = ScanStatus::kConnectionTimeout;
  probes[0].session.status_detail.clear();
  s = SummarizeProbes(probes);
  EXPECT_EQ(s.status, ScanStatus::kConnectionTimeout);
  EXPECT_EQ(s.status_detail, "");
}

TEST(SummarizeProbesTest, FixtureRecordsAreSummarised) {
  const AddressRecord multi = fixtures::MultiPortAddressRecord();
  EXPECT_EQ(multi.status, ScanStatus::kSuccess);
  EXPECT_EQ(multi.address, "192.0.2.25");
  EXPECT_EQ(multi.host, "mx1.example.com");
  ASSERT_EQ(multi.probes.size(), 3u);
  EXPECT_EQ(multi.probes[0].port, 25);
  EXPECT_EQ(multi.probes[1].port, 465);
  EXPECT_EQ(multi.probes[2].port, 587);
}

}  // namespace
}  // namespace smtpscan::output
