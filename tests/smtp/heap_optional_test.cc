#include "smtp/heap_optional.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "smtp/reply.h"
#include "smtp/session.h"

namespace smtpscan::smtp {
namespace {

Reply MakeReply(int code, std::string line) {
  Reply r;
  r.code = code;
  r.lines.push_back(std::move(line));
  return r;
}

TEST(HeapOptionalTest, IsOnePointerWide) {
  static_assert(sizeof(HeapOptional<EhloReply>) == sizeof(void*));
  HeapOptional<Reply> empty;
  EXPECT_FALSE(empty.has_value());
  EXPECT_FALSE(static_cast<bool>(empty));
  EXPECT_TRUE(empty == absl::nullopt);
}

TEST(HeapOptionalTest, CopiesAreDeepAndIndependent) {
  HeapOptional<Reply> a = MakeReply(250, "first");
  HeapOptional<Reply> b = a;
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(&*a, &*b);
  EXPECT_EQ(a, b);
  b->lines[0] = "changed";
  EXPECT_EQ(a->lines[0], "first");
  EXPECT_NE(a, b);

  HeapOptional<Reply> c;
  c = a;  // copy-assign into an empty one
  EXPECT_EQ(c, a);
  c = HeapOptional<Reply>();  // and back to empty
  EXPECT_FALSE(c.has_value());
  HeapOptional<Reply>& self = a;
  a = self;  // self-assignment keeps the value
  EXPECT_EQ(a->lines[0], "first");
}

TEST(HeapOptionalTest, AssigningAValueReusesTheBox) {
  HeapOptional<Reply> a = MakeReply(220, "hello");
  const Reply* box = &*a;
  a = MakeReply(421, "bye");
  EXPECT_EQ(&*a, box);
  EXPECT_EQ(a->code, 421);
  EXPECT_TRUE(a == MakeReply(421, "bye"));
  a = absl::nullopt;
  EXPECT_FALSE(a.has_value());
}

TEST(HeapOptionalTest, MovesTakeTheBox) {
  HeapOptional<Reply> a = MakeReply(250, "x");
  const Reply* box = &*a;
  HeapOptional<Reply> b = std::move(a);
  EXPECT_EQ(&*b, box);
  HeapOptional<Reply> c;
  c = std::move(b);
  EXPECT_EQ(&*c, box);
  EXPECT_EQ(c.value().code, 250);
}

TEST(HeapOptionalTest, EmplaceAndReset) {
  HeapOptional<std::string> s;
  s.emplace(3, 'a');
  EXPECT_EQ(*s, "aaa");
  EXPECT_EQ(s->size(), 3u);
  s.reset();
  EXPECT_FALSE(s.has_value());
}

TEST(HeapOptionalTest, EmptyAndSetCompareUnequal) {
  HeapOptional<Reply> empty;
  HeapOptional<Reply> set = MakeReply(250, "");
  EXPECT_NE(empty, set);
  EXPECT_NE(set, empty);
  EXPECT_EQ(empty, HeapOptional<Reply>());
}

// The point of the type: the replies most conversations never see cost a
// pointer each in every open connection, not their full size.
TEST(HeapOptionalTest, KeepsTheRareRepliesOfASessionResultSmall) {
  static_assert(sizeof(SessionResult) <= 560,
                "SessionResult is part of every open connection");
  SessionResult a;
  a.starttls = MakeReply(454, "TLS not available");
  a.help = MakeReply(214, "see https://example.test/");
  SessionResult b = a;
  EXPECT_EQ(b.starttls, a.starttls);
  EXPECT_NE(&*b.starttls, &*a.starttls);
  EXPECT_EQ(b.help->code, 214);
  EXPECT_FALSE(b.helo_tls.has_value());
}

}  // namespace
}  // namespace smtpscan::smtp
