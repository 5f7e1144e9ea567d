// The in-memory ledger's compact layout (tenant and jurisdiction kept as ids into a name table):
// what release() and replacement give back must be what was reserved.
#include "webhook/usage_ledger.hpp"

#include <gtest/gtest.h>

using namespace exportgate::webhook;

TEST(InMemoryLedger, ReleaseGivesBackTheNamesReservedUnderTheKey) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"a/p1", "team-a", "SG", 10, "uid-1", "a"}, std::nullopt, std::nullopt));
  EXPECT_TRUE(l.reserve({"b/p2", "team-b", "", 20, "uid-2", "b"}, std::nullopt, std::nullopt));
  EXPECT_TRUE(l.reserve({"c/p3", "team-a", "US", 30, "uid-3", "c"}, std::nullopt, std::nullopt));
  EXPECT_EQ(l.size(), 3u);

  auto b = l.release("b/p2");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->key, "b/p2");
  EXPECT_EQ(b->tenant, "team-b");
  EXPECT_EQ(b->jurisdiction, "");  // none: only the tenant was charged
  EXPECT_DOUBLE_EQ(b->tpp, 20);

  auto c = l.release("c/p3");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tenant, "team-a");
  EXPECT_EQ(c->jurisdiction, "US");
  EXPECT_DOUBLE_EQ(c->tpp, 30);
  EXPECT_EQ(l.size(), 1u);

  const auto t = l.totals();
  EXPECT_DOUBLE_EQ(t.tenants.at("team-a"), 10);
  EXPECT_DOUBLE_EQ(t.tenants.at("team-b"), 0);
  EXPECT_DOUBLE_EQ(t.jurisdictions.at("SG"), 10);
  EXPECT_DOUBLE_EQ(t.jurisdictions.at("US"), 0);
  EXPECT_EQ(t.jurisdictions.count(""), 0u);
}

// Issue 13: re-submitting an existing pod's name with a one-slice spec replaced its reservation
// with the smaller one (the apiserver refuses the duplicate name, but only after admission).
TEST(InMemoryLedger, ACreateForAHeldNameNeverLowersItsCharge) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"ns/p", "team-a", "SG", 60}, 100.0, 100.0));
  EXPECT_TRUE(l.reserve({"ns/p", "team-a", "SG", 5}, 100.0, 100.0));
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").tenant_tpp, 60);
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").jurisdiction_tpp, 60);
  // A larger one raises the charge to its own size, within the caps (60 -> 90 fits 100) ...
  EXPECT_TRUE(l.reserve({"ns/p", "team-a", "SG", 90}, 100.0, 100.0));
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").tenant_tpp, 90);
  // ... and past them is refused.
  EXPECT_FALSE(l.reserve({"ns/p", "team-a", "SG", 120}, 100.0, 100.0));
  EXPECT_EQ(l.size(), 1u);
  auto r = l.release("ns/p");
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->tpp, 90);
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").tenant_tpp, 0);
}

TEST(InMemoryLedger, ACreateForAHeldNameUnderOtherNamesAddsWithoutMovingTheOldCharge) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"ns/p", "team-a", "SG", 60}, 100.0, 100.0));
  // Another tenant and jurisdiction (the namespace was relabelled): charged in full, capped ...
  EXPECT_TRUE(l.reserve({"ns/q", "team-b", "US", 60}, 100.0, 100.0));
  EXPECT_FALSE(l.reserve({"ns/p", "team-b", "US", 50}, 100.0, 100.0));
  EXPECT_TRUE(l.reserve({"ns/p", "team-b", "", 5}, std::nullopt, std::nullopt));
  // ... and team-a keeps its charge until the pod's DELETE.
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").tenant_tpp, 60);
  EXPECT_DOUBLE_EQ(l.snapshot("team-b", "US").tenant_tpp, 65);
  EXPECT_EQ(l.size(), 2u);
  auto r = l.release("ns/p");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tenant, "team-a");
  EXPECT_EQ(r->jurisdiction, "SG");
  EXPECT_DOUBLE_EQ(r->tpp, 60);
}

TEST(InMemoryLedger, ReservationsWithoutAKeyAreChargedButNotKept) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"", "team-a", "SG", 7}, std::nullopt, std::nullopt));
  EXPECT_EQ(l.size(), 0u);
  EXPECT_DOUBLE_EQ(l.snapshot("team-a", "SG").tenant_tpp, 7);
  EXPECT_FALSE(l.release(""));
}
