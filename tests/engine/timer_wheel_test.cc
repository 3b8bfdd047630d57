#include "engine/timer_wheel.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace smtpscan::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);
constexpr absl::Duration kTick = absl::Milliseconds(10);

struct Timer {
  explicit Timer(int i = 0) : id(i) {}
  TimerNode node;  // first member: the node's address is the Timer's
  int id;
  absl::Time due;
  absl::Time fired = absl::InfinitePast();
};

Timer* Of(TimerNode* n) { return reinterpret_cast<Timer*>(n); }

TEST(TimerWheelTest, FiresAtOrAfterTheDeadlineNeverBefore) {
  TimerWheel wheel(kT0, kTick);
  Timer a(1), b(2);
  wheel.Arm(&a.node, kT0 + absl::Milliseconds(25));
  wheel.Arm(&b.node, kT0 + absl::Milliseconds(30));
  std::vector<int> fired;
  auto collect = [&](TimerNode* n) { fired.push_back(Of(n)->id); };
  wheel.Advance(kT0 + absl::Milliseconds(29), collect);
  EXPECT_TRUE(fired.empty());  // 25 ms rounds up to the 30 ms tick
  wheel.Advance(kT0 + absl::Milliseconds(30), collect);
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
  EXPECT_EQ(wheel.armed_count(), 0u);
  EXPECT_FALSE(a.node.armed());
}

TEST(TimerWheelTest, DisarmAndRearm) {
  TimerWheel wheel(kT0, kTick);
  Timer a(1);
  wheel.Arm(&a.node, kT0 + absl::Milliseconds(50));
  wheel.Disarm(&a.node);
  wheel.Disarm(&a.node);  // harmless
  EXPECT_EQ(wheel.armed_count(), 0u);
  int fired = 0;
  wheel.Advance(kT0 + absl::Seconds(1), [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 0);
  wheel.Arm(&a.node, kT0 + absl::Seconds(2));
  wheel.Arm(&a.node, kT0 + absl::Seconds(3));  // re-arm moves it
  EXPECT_EQ(wheel.armed_count(), 1u);
  wheel.Advance(kT0 + absl::Milliseconds(2990), [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 0);
  wheel.Advance(kT0 + absl::Seconds(3), [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheelTest, DeadlinesBeyondOneRevolutionWaitTheirTurn) {
  TimerWheel wheel(kT0, kTick);
  const absl::Duration revolution = kTick * TimerWheel::kSlots;
  Timer far(1);
  wheel.Arm(&far.node, kT0 + 3 * revolution + absl::Milliseconds(20));
  int fired = 0;
  for (absl::Time t = kT0; t < kT0 + 3 * revolution + absl::Milliseconds(20);
       t += kTick) {
    wheel.Advance(t, [&](TimerNode*) { ++fired; });
    ASSERT_EQ(fired, 0) << (t - kT0);
  }
  wheel.Advance(kT0 + 3 * revolution + absl::Milliseconds(20),
                [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheelTest, CallbacksMayDisarmAndRearmNeighbours) {
  TimerWheel wheel(kT0, kTick);
  Timer a(1), b(2), c(3);
  for (Timer* t : {&a, &b, &c}) wheel.Arm(&t->node, kT0 + kTick);
  std::vector<int> fired;
  wheel.Advance(kT0 + kTick, [&](TimerNode* n) {
    fired.push_back(Of(n)->id);
    if (Of(n)->id == 1) {
      wheel.Disarm(&b.node);            // cancel a due neighbour
      wheel.Arm(&a.node, kT0 + kTick);  // re-arm itself for "now"
    }
  });
  // c still fires in this pass; a, re-armed for a past time, fires on the
  // next tick rather than a revolution later.
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  wheel.Advance(kT0 + 2 * kTick,
                [&](TimerNode* n) { fired.push_back(Of(n)->id); });
  EXPECT_EQ(fired, (std::vector<int>{1, 3, 1}));
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheelTest, NextExpiry) {
  TimerWheel wheel(kT0, kTick);
  EXPECT_EQ(wheel.NextExpiry(kT0 + absl::Seconds(1)), kT0 + absl::Seconds(1));
  Timer a;
  wheel.Arm(&a.node, kT0 + absl::Milliseconds(120));
  EXPECT_EQ(wheel.NextExpiry(kT0 + absl::Seconds(1)),
            kT0 + absl::Milliseconds(120));
  EXPECT_EQ(wheel.NextExpiry(kT0 + absl::Milliseconds(50)),
            kT0 + absl::Milliseconds(50));
}

// Against a simple model: random arms, disarms and advances; every timer
// fires exactly once, no earlier than its deadline and at most one tick
// after the Advance that passed it.
TEST(TimerWheelTest, RandomAgainstModel) {
  std::mt19937 rng(7);
  TimerWheel wheel(kT0, kTick);
  std::vector<Timer> timers(2000);
  absl::Time now = kT0;
  for (int step = 0; step < 20000; ++step) {
    Timer& t = timers[rng() % timers.size()];
    switch (rng() % 4) {
      case 0:
      case 1:
        t.due = now + absl::Milliseconds(rng() % 30000);
        t.fired = absl::InfinitePast();
        wheel.Arm(&t.node, t.due);
        break;
      case 2:
        wheel.Disarm(&t.node);
        break;
      default:
        now += absl::Milliseconds(rng() % 200);
        wheel.Advance(now, [&](TimerNode* n) {
          Timer* f = Of(n);
          ASSERT_GE(now, f->due);
          ASSERT_LT(now - f->due, absl::Milliseconds(200) + kTick);
          f->fired = now;
        });
        break;
    }
  }
  now += absl::Seconds(31);
  wheel.Advance(now, [&](TimerNode* n) { Of(n)->fired = now; });
  EXPECT_EQ(wheel.armed_count(), 0u);
  for (const Timer& t : timers) EXPECT_FALSE(t.node.armed());
}

}  // namespace
}  // namespace smtpscan::engine
