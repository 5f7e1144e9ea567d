// The admission decision path without the network: mutation patches, the usage ledger (CAS,
// replace by key, release), and the per-operation rules of handle_admission.
#include "webhook/admission_handler.hpp"

#include <gtest/gtest.h>

#include "policy/policy_loader.hpp"
#include "webhook/mutation.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

json h100_pod(const std::string& ns, const std::string& name, int gpus) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}},
            {"containers",
             {{{"name", "c"},
               {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}}}}}};
}

AdmissionRequest pod_request(const std::string& uid, const std::string& ns, const std::string& name,
                             int gpus) {
  AdmissionRequest r;
  r.uid = uid;
  r.kind = {"", "v1", "Pod"};
  r.resource = "pods";
  r.operation = "CREATE";
  r.namespace_ = ns;
  r.name = name;
  r.object = h100_pod(ns, name, gpus);
  return r;
}

policy::Policy sg_policy(double cap) {
  auto p = policy::load_preset(policy::kDefaultPreset);
  policy::Tenant t;
  t.name = "sg";
  t.jurisdiction = "SG";
  t.namespaces = {"sg"};
  t.cap_tpp = cap;
  p.tenants.push_back(t);
  p.admins.groups = {"admins"};
  return p;
}

TEST(Mutation, PatchCreatesAnnotationsAndEscapesSlashes) {
  json obj = {{"metadata", {{"name", "x"}}}};
  json patch = annotation_patch(obj, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(patch.size(), 1u);
  EXPECT_EQ(patch[0]["op"], "add");
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations");
  EXPECT_EQ(obj.patch(patch)["metadata"]["annotations"]["exportgate.io/tpp"], "5");

  json with = {{"metadata", {{"annotations", {{"a", "b"}}}}}};
  json p2 = annotation_patch(with, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(p2[0]["path"], "/metadata/annotations/exportgate.io~1tpp");

  json stale = {{"metadata", {{"annotations", {{"exportgate.io/tpp", "4"}}}}}};
  json p3 = annotation_patch(stale, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_EQ(p3[0]["op"], "replace");

  json same = {{"metadata", {{"annotations", {{"exportgate.io/tpp", "5"}}}}}};
  EXPECT_TRUE(annotation_patch(same, {{"exportgate.io/tpp", "5"}}).empty());
}

TEST(UsageLedgerTest, ReserveRespectsCapsAtomicallyAndReplacesByKey) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"ns/a", "t", "SG", 60}, 100.0, std::nullopt));
  EXPECT_FALSE(l.reserve({"ns/b", "t", "SG", 60}, 100.0, std::nullopt));
  EXPECT_TRUE(l.reserve({"ns/b", "t", "SG", 40}, 100.0, std::nullopt));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 100);
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").jurisdiction_tpp, 100);
  // Same key again (a pod name reused after the old pod is gone): replaced, not added.
  EXPECT_TRUE(l.reserve({"ns/a", "t", "SG", 50}, 100.0, std::nullopt));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 90);
  // Jurisdiction cap applies across tenants.
  EXPECT_FALSE(l.reserve({"ns2/c", "u", "SG", 20}, std::nullopt, 100.0));
  // Release is by key and happens once.
  auto r = l.release("ns/a");
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->tpp, 50);
  EXPECT_FALSE(l.release("ns/a"));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 40);
  EXPECT_EQ(l.totals().tenants.at("t"), 40);
}

TEST(AdmissionHandler, ValidateReservesForPodCreateOnlyAndReleasesOnDelete) {
  auto policy = sg_policy(200000);  // one 8 x H100 pod is 126,656 TPP
  InMemoryLedger ledger;
  auto first =
      handle_admission(pod_request("1", "sg", "a", 8), Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(first.response.allowed);
  EXPECT_EQ(first.response.audit_annotations.at("tpp"), "126656");
  auto second =
      handle_admission(pod_request("2", "sg", "b", 8), Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(second.response.allowed);
  EXPECT_EQ(second.response.status_code, 403);
  EXPECT_EQ(second.decision, "deny");
  EXPECT_TRUE(second.record.is_object());
  EXPECT_EQ(second.record["tenant"], "sg");

  // /mutate never reserves.
  handle_admission(pod_request("3", "sg", "c", 1), Endpoint::kMutate, policy, ledger);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 126656);

  AdmissionRequest del;
  del.uid = "4";
  del.kind = {"", "v1", "Pod"};
  del.operation = "DELETE";
  del.namespace_ = "sg";
  del.name = "a";
  del.old_object = h100_pod("sg", "a", 8);
  auto d = handle_admission(del, Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(d.response.allowed);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 0);
  EXPECT_TRUE(handle_admission(pod_request("5", "sg", "b", 8), Endpoint::kValidate, policy, ledger)
                  .response.allowed);
}

TEST(AdmissionHandler, DryRunAndPodUpdatesReserveNothing) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  auto dry = pod_request("1", "sg", "a", 8);
  dry.dry_run = true;
  EXPECT_TRUE(handle_admission(dry, Endpoint::kValidate, policy, ledger).response.allowed);
  auto upd = pod_request("2", "sg", "a", 8);
  upd.operation = "UPDATE";
  EXPECT_TRUE(handle_admission(upd, Endpoint::kValidate, policy, ledger).response.allowed);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 0);
}

TEST(AdmissionHandler, MalformedObjectIsDeniedWithTheReason) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  auto r = pod_request("1", "sg", "a", 8);
  r.object["spec"]["containers"] = "not-a-list";
  auto out = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(out.response.allowed);
  EXPECT_EQ(out.response.status_code, 400);
  EXPECT_EQ(out.decision, "error");
}

TEST(AdmissionHandler, WorkloadUpdateDoesNotCountItsOwnPodsTwice) {
  auto policy = sg_policy(300000);
  InMemoryLedger ledger;
  // Two running pods of the deployment hold 253,312 TPP.
  ASSERT_TRUE(ledger.reserve({"sg/d-1", "sg", "SG", 126656}, std::nullopt, std::nullopt));
  ASSERT_TRUE(ledger.reserve({"sg/d-2", "sg", "SG", 126656}, std::nullopt, std::nullopt));
  json pod = h100_pod("sg", "d", 8);
  json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "d"}, {"namespace", "sg"}}},
                 {"spec", {{"replicas", 2}, {"template", {{"spec", pod["spec"]}}}}}};
  json relabeled = deploy;
  relabeled["metadata"]["labels"] = {{"x", "y"}};
  AdmissionRequest r;
  r.uid = "u";
  r.kind = {"apps", "v1", "Deployment"};
  r.operation = "UPDATE";
  r.namespace_ = "sg";
  r.name = "d";
  r.object = relabeled;
  r.old_object = deploy;
  EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed);
  // Scaling it to 3 would exceed the cap.
  r.object["spec"]["replicas"] = 3;
  EXPECT_FALSE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed);
}

TEST(AdmissionHandler, PolicyAdminsByUserOrGroup) {
  auto policy = sg_policy(1);
  policy.admins.users = {"root@x"};
  EXPECT_TRUE(is_policy_admin(policy, "root@x", {}));
  EXPECT_TRUE(is_policy_admin(policy, "bob", {"dev", "admins"}));
  EXPECT_FALSE(is_policy_admin(policy, "bob", {"dev"}));
  EXPECT_FALSE(is_policy_admin(policy, "", {}));
}

// Moving a namespace to another jurisdiction changes what its tenant may run: an admin's relabel
// is allowed and leaves a record (the decision log's evidence of who moved whom, and when); a
// non-admin's is denied and recorded as such; other label changes leave nothing.
TEST(AdmissionHandler, NamespaceRelabelsAreRecorded) {
  auto policy = sg_policy(1);
  InMemoryLedger ledger;
  json before = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata",
       {{"name", "team-x"}, {"labels", {{"team", "x"}, {"exportgate.io/jurisdiction", "DE"}}}}}};
  json after = before;
  after["metadata"]["labels"]["exportgate.io/jurisdiction"] = "CN";
  AdmissionRequest r;
  r.uid = "relabel-1";
  r.kind = {"", "v1", "Namespace"};
  r.resource = "namespaces";
  r.operation = "UPDATE";
  r.name = "team-x";
  r.object = after;
  r.old_object = before;
  r.username = "carol";
  r.groups = {"admins"};
  auto admin = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(admin.response.allowed);
  ASSERT_TRUE(admin.record.is_object());
  EXPECT_EQ(admin.record["decision"], "allow");
  EXPECT_EQ(admin.record["code"], "namespace-label-change");
  EXPECT_EQ(admin.record["user"], "carol");
  EXPECT_EQ(admin.record["namespace"], "team-x");
  EXPECT_EQ(admin.record["labels_before"]["exportgate.io/jurisdiction"], "DE");
  EXPECT_EQ(admin.record["labels_after"]["exportgate.io/jurisdiction"], "CN");
  EXPECT_FALSE(admin.record["labels_after"].contains("team"));  // only exportgate.io/ labels
  EXPECT_EQ(admin.record["policy_hash"], policy.hash);
  const std::string reason = admin.record["reasons"][0];
  EXPECT_NE(reason.find("exportgate.io/jurisdiction \"DE\" -> \"CN\""), std::string::npos)
      << reason;

  r.groups = {"dev"};
  auto denied = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(denied.response.allowed);
  EXPECT_EQ(denied.record["code"], "namespace-label-guard");

  json other = before;
  other["metadata"]["labels"]["team"] = "y";
  r.object = other;
  EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).record.is_null());
}

}  // namespace
}  // namespace exportgate::webhook
