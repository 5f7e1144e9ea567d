// Tests of the accelerator catalog: the rule's formulas and thresholds, every built-in model's
// TPP/PD/class, partitions, lookups, and the catalog YAML parser's merge semantics and errors.
#include "policy/catalog.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/catalog_yaml.hpp"
#include "policy/errors.hpp"

namespace exportgate::policy {
namespace {

constexpr auto kA = ExportClass::k3A090a;
constexpr auto kB = ExportClass::k3A090b;
constexpr auto kNone = ExportClass::kNotControlled;

// ---------------------------------------------------------------------------------------------
// Every built-in model: the figures in docs/catalog.md. A model added to catalog.yaml without a
// row here fails BuiltinModelsAllHaveExpectations.
struct ModelCase {
  const char* id;
  double tpp;
  std::optional<double> pd;  // rounded to 2 decimals; nullopt = die area unknown
  ExportClass cls;
};

const std::vector<ModelCase> kModelCases = {
    {"h100-sxm", 15832, 19.45, kA},
    {"h100-pcie", 12104, 14.87, kA},
    {"h100-nvl", 13368, 16.42, kA},
    {"h200", 15832, 19.45, kA},
    {"h800", 15832, 19.45, kA},
    {"h20", 2368, 2.91, kNone},
    {"h200-nvl", 13364, 16.42, kA},
    {"a100", 4992, 6.04, kA},
    {"a800", 4992, 6.04, kA},
    {"a30", 2640, 3.20, kB},
    {"l40s", 5864, 9.63, kA},
    {"l40", 2896, 4.76, kB},
    {"l4", 1940, 6.60, kA},
    {"rtx-4090", 5284.8, 8.68, kA},
    {"rtx-4090d", 4707.2, 7.73, kNone},
    {"b100", 28000, std::nullopt, kA},
    {"b200", 36000, std::nullopt, kA},
    {"gb200", 40000, std::nullopt, kA},
    {"b300", 60000, std::nullopt, kA},
    {"gb300", 60000, std::nullopt, kA},
    {"rtx-pro-6000-server", 8000, 10.67, kA},
    {"rtx-pro-6000", 8000, 10.67, kA},
    {"mi300x", 20919.2, std::nullopt, kA},
    {"mi325x", 20919.2, std::nullopt, kA},
    {"mi250x", 6128, std::nullopt, kA},
    {"mi308x", 20919.2, std::nullopt, kA},
    {"mi350x", 55368, std::nullopt, kA},
    {"mi355x", 60396, std::nullopt, kA},
    {"gaudi2", 6920, std::nullopt, kA},
    {"gaudi3", 29360, std::nullopt, kA},
    {"max-1550", 13312, std::nullopt, kA},
    {"tpu-v5e", 3152, 3.67, kB},
    {"tpu-v5p", 7344, std::nullopt, kA},
    {"tpu-v6e", 14688, std::nullopt, kA},
    {"tpu-v7", 36912, std::nullopt, kA},
    {"trainium", 3040, 3.54, kB},
    {"trainium2", 10672, std::nullopt, kA},
    {"trainium3", 20136, std::nullopt, kA},
    {"inferentia2", 3040, 3.54, kB},
    {"ascend-910b", 6016, std::nullopt, kA},
    {"ascend-910c", 12800, std::nullopt, kA},
};

class BuiltinModel : public testing::TestWithParam<ModelCase> {};

TEST_P(BuiltinModel, HasExpectedTppDensityAndClass) {
  const ModelCase& c = GetParam();
  const AcceleratorModel* m = builtin_catalog().find_model(c.id);
  ASSERT_NE(m, nullptr) << c.id;
  EXPECT_NEAR(m->tpp, c.tpp, 0.05) << c.id;
  ASSERT_EQ(m->pd.has_value(), c.pd.has_value()) << c.id;
  if (c.pd) {
    EXPECT_NEAR(*m->pd, *c.pd, 0.005) << c.id;
  }
  EXPECT_EQ(to_string(m->export_class), to_string(c.cls)) << c.id;
  EXPECT_FALSE(m->vendor.empty());
  EXPECT_FALSE(m->display_name.empty());
  EXPECT_FALSE(m->resources.empty()) << c.id << " must be reachable through a resource";
  EXPECT_FALSE(m->source.empty()) << c.id << " must say where its figures come from";
}

INSTANTIATE_TEST_SUITE_P(Catalog, BuiltinModel, testing::ValuesIn(kModelCases),
                         [](const testing::TestParamInfo<ModelCase>& info) {
                           std::string name = info.param.id;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(BuiltinCatalog, BuiltinModelsAllHaveExpectations) {
  std::set<std::string> expected;
  for (const auto& c : kModelCases) expected.insert(c.id);
  std::set<std::string> actual;
  for (const auto& m : builtin_catalog().models) actual.insert(m.id);
  EXPECT_EQ(actual, expected);
}

TEST(BuiltinCatalog, ReferenceFiguresOfTheRule) {
  // diffusion-rule.md: H100 SXM 15,832 (790M / 15,832 = 49.9k H100e); H20 2,368 with PD 2.9;
  // A100 4,992; MI300X ~20,919 (below the 21,000 band of Jan 2026).
  const Catalog& c = builtin_catalog();
  EXPECT_DOUBLE_EQ(c.find_model("h100-sxm")->tpp, 15832);
  EXPECT_NEAR(790'000'000 / c.find_model("h100-sxm")->tpp, 49'899, 1);
  EXPECT_DOUBLE_EQ(c.find_model("h20")->tpp, 2368);
  EXPECT_NEAR(*c.find_model("h20")->pd, 2.9, 0.05);
  EXPECT_FALSE(is_controlled(c.find_model("h20")->export_class));
  EXPECT_DOUBLE_EQ(c.find_model("a100")->tpp, 4992);
  EXPECT_EQ(std::lround(c.find_model("mi300x")->tpp), 20919);
  EXPECT_LT(c.find_model("mi325x")->tpp, 21000);
}

// Reference section 7 ("Parts of 2025-2026"): B300 13-15 PFLOPS dense FP4, charged at the upper
// end; TPU v7 4,614 FP8; Trainium 3 2,517 MXFP8; RTX PRO 6000 4,000 FP4 with sparsity. Bandwidths
// for the rules that select by them (H20 4,000 GB/s; H200 4,800 and MI325X 6,000 < 6,500).
TEST(BuiltinCatalog, PartsOf2025And2026AndBandwidths) {
  const Catalog& c = builtin_catalog();
  EXPECT_DOUBLE_EQ(c.find_model("b300")->tpp, 15000 * 4);
  EXPECT_DOUBLE_EQ(c.find_model("tpu-v7")->tpp, 36912);
  EXPECT_DOUBLE_EQ(c.find_model("trainium3")->tpp, 20136);
  EXPECT_DOUBLE_EQ(c.find_model("rtx-pro-6000-server")->tpp, 4000 / 2 * 4);
  EXPECT_TRUE(c.find_model("rtx-pro-6000-server")->datacenter);
  EXPECT_FALSE(c.find_model("rtx-pro-6000")->datacenter);
  EXPECT_DOUBLE_EQ(c.find_model("h20")->dram_bandwidth_gbs, 4000);
  EXPECT_LT(c.find_model("h200")->dram_bandwidth_gbs, 6500);
  EXPECT_LT(c.find_model("mi325x")->dram_bandwidth_gbs, 6500);
  EXPECT_GE(c.find_model("b200")->dram_bandwidth_gbs, 6500);
  // A B300 label is charged as the B300, no longer as the GB200.
  const auto b300 = c.models_for_label("nvidia.com/gpu.product", "NVIDIA-B300");
  ASSERT_EQ(b300.size(), 1u);
  EXPECT_EQ(b300[0]->id, "b300");
  for (const auto& m : c.models) {
    EXPECT_GE(m.dram_bandwidth_gbs, 0) << m.id;
    EXPECT_GE(m.interconnect_bandwidth_gbs, 0) << m.id;
  }
}

// Reference section 7, "Classification caveat": an unknown die area, or only an upper bound on
// it, cannot rule out 3A090.a for a datacenter part with 1,600 <= TPP < 4,800.
TEST(FailClosedClass, UnknownOrBoundedAreaInTheDensityBandIsChargedAs3A090a) {
  // Unknown area: the old classify() said "not controlled".
  EXPECT_EQ(classify(3000, std::nullopt, true), kNone);
  const auto unknown = classify_fail_closed(3000, std::nullopt, false, true, std::nullopt);
  EXPECT_EQ(unknown.export_class, kA);
  EXPECT_NE(unknown.note.find("die area is unknown"), std::string::npos) << unknown.note;
  // A lower bound on PD (3.5: at least .b) does not rule out .a.
  const auto bounded = classify_fail_closed(3000, 3.5, true, true, std::nullopt);
  EXPECT_EQ(bounded.export_class, kA);
  EXPECT_NE(bounded.note.find("PD >= 3.50 is a lower bound"), std::string::npos) << bounded.note;
  // An exact area decides; TPP below 1,600, TPP at 4,800 and non-datacenter parts need no area.
  EXPECT_EQ(classify_fail_closed(3000, 3.5, false, true, std::nullopt).export_class, kB);
  EXPECT_EQ(classify_fail_closed(1500, std::nullopt, false, true, std::nullopt).export_class,
            kNone);
  EXPECT_EQ(classify_fail_closed(4800, std::nullopt, false, true, std::nullopt).note, "");
  EXPECT_EQ(classify_fail_closed(3000, std::nullopt, false, false, std::nullopt).export_class,
            kNone);
  // A class a source states replaces the presumption, with the reason kept.
  const auto stated = classify_fail_closed(3152, 3.67, true, true, kB);
  EXPECT_EQ(stated.export_class, kB);
  EXPECT_NE(stated.note.find("as its source states"), std::string::npos);
}

TEST(FailClosedClass, BuiltinPartsWithABoundedAreaCarryTheirReason) {
  const Catalog& c = builtin_catalog();
  for (const char* id : {"tpu-v5e", "trainium", "inferentia2"}) {
    const AcceleratorModel* m = c.find_model(id);
    EXPECT_TRUE(m->die_area_upper_bound) << id;
    EXPECT_EQ(m->export_class, kB) << id;  // named as .b parts by the source (wttlonline)
    EXPECT_FALSE(m->class_note.empty()) << id;
  }
  EXPECT_TRUE(c.find_model("h100-sxm")->class_note.empty());
}

TEST(FailClosedClass, CatalogOverrideOfAnUnknownAreaPartAndAStatedClassBelowTheProof) {
  Catalog c = builtin_catalog();
  c.models.push_back(c.models.front());
  AcceleratorModel& m = c.models.back();
  m.id = "new-dc-part";
  m.dense_tops = 375;  // x 8 = 3,000 TPP, area unknown
  m.bit_length = 8;
  m.die_area_mm2 = 0;
  c.finalize();
  EXPECT_EQ(c.find_model("new-dc-part")->export_class, kA);
  EXPECT_FALSE(c.find_model("new-dc-part")->class_note.empty());
  // A stated class below what the inputs prove is refused.
  c.models.back().die_area_mm2 = 814;
  c.models.back().dense_tops = 1979;
  c.models.back().stated_class = kB;
  EXPECT_THROW(c.finalize(), PolicyError);
}

TEST(BuiltinCatalog, IsCachedAndStable) {
  EXPECT_EQ(&builtin_catalog(), &builtin_catalog());
}

// ---------------------------------------------------------------------------------------------
// Formulas and thresholds (Oct 2023 3A090, diffusion-rule.md section 2).

TEST(Formulas, TppIsDenseTopsTimesBitLength) {
  EXPECT_DOUBLE_EQ(total_processing_performance(1979, 8), 15832);
  EXPECT_DOUBLE_EQ(total_processing_performance(312, 16), 4992);
  EXPECT_DOUBLE_EQ(total_processing_performance(148, 16), total_processing_performance(296, 8));
}

TEST(Formulas, DensityNeedsAKnownArea) {
  EXPECT_DOUBLE_EQ(*performance_density(15832, 814), 15832.0 / 814);
  EXPECT_FALSE(performance_density(15832, 0).has_value());
  EXPECT_FALSE(performance_density(15832, -1).has_value());
}

struct ClassifyCase {
  const char* name;
  double tpp;
  std::optional<double> pd;
  bool datacenter;
  ExportClass expected;
};

const std::vector<ClassifyCase> kClassifyCases = {
    // 3A090.a by TPP alone, exactly at the threshold and just below it.
    {"tpp_4800_is_a", 4800, 1.0, true, kA},
    {"tpp_4800_without_pd_is_a", 4800, std::nullopt, true, kA},
    {"tpp_4799_99_low_pd_not", 4799.99, 1.0, true, kNone},
    // 3A090.a by density: TPP >= 1600 and PD >= 5.92.
    {"tpp_1600_pd_5_92_is_a", 1600, 5.92, true, kA},
    {"tpp_1599_99_pd_high_not", 1599.99, 10.0, true, kNone},
    {"tpp_1600_pd_5_9199_is_b", 1600, 5.9199, true, kB},
    // 3A090.b first band: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92.
    {"b1_tpp_2400_pd_1_6", 2400, 1.6, true, kB},
    {"b1_tpp_4799_pd_5_91", 4799, 5.91, true, kB},
    {"b1_tpp_2399_99_pd_1_6_not", 2399.99, 1.6, true, kNone},
    {"b1_tpp_2400_pd_1_599_not", 2400, 1.599, true, kNone},
    // 3A090.b second band: TPP >= 1600 and 3.2 <= PD < 5.92.
    {"b2_tpp_1600_pd_3_2", 1600, 3.2, true, kB},
    {"b2_tpp_2000_pd_5_91", 2000, 5.91, true, kB},
    {"b2_tpp_1600_pd_3_199_not", 1600, 3.199, true, kNone},
    {"b2_tpp_1599_pd_3_2_not", 1599, 3.2, true, kNone},
    // Unknown density: only the TPP-only test applies.
    {"no_pd_tpp_3000_not", 3000, std::nullopt, true, kNone},
    // Not designed for data centres: controlled only at TPP >= 4800.
    {"consumer_4800_is_a", 4800, 8.0, false, kA},
    {"consumer_4707_high_pd_not", 4707, 7.7, false, kNone},
    {"consumer_2400_b_band_not", 2400, 4.0, false, kNone},
    // Rounding of decimal inputs does not move a value across a threshold: 5.92 computed.
    {"pd_computed_5_92_is_a", 1600, 5920.0 / 1000.0, true, kA},
    {"h20_like_not", 2368, 2.909, true, kNone},
};

class Classify : public testing::TestWithParam<ClassifyCase> {};

TEST_P(Classify, FollowsThe2023Thresholds) {
  const auto& c = GetParam();
  EXPECT_EQ(to_string(classify(c.tpp, c.pd, c.datacenter)), to_string(c.expected));
}

INSTANTIATE_TEST_SUITE_P(Thresholds, Classify, testing::ValuesIn(kClassifyCases),
                         [](const testing::TestParamInfo<ClassifyCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(Formulas, ClassNames) {
  EXPECT_EQ(to_string(kA), "3A090.a");
  EXPECT_EQ(to_string(kB), "3A090.b");
  EXPECT_EQ(to_string(kNone), "not controlled");
  EXPECT_TRUE(is_controlled(kA));
  EXPECT_TRUE(is_controlled(kB));
  EXPECT_FALSE(is_controlled(kNone));
}

// ---------------------------------------------------------------------------------------------
// Partitions.

struct PartitionCase {
  const char* resource;
  double fraction;
  std::vector<std::string> parents;
};

TEST(BuiltinCatalog, MigAndNeuronCorePartitions) {
  const std::vector<PartitionCase> cases = {
      {"nvidia.com/mig-1g.5gb", 1.0 / 7, {"a100", "a800"}},
      {"nvidia.com/mig-2g.10gb", 2.0 / 7, {"a100", "a800"}},
      {"nvidia.com/mig-3g.20gb", 3.0 / 7, {"a100", "a800"}},
      {"nvidia.com/mig-4g.20gb", 4.0 / 7, {"a100", "a800"}},
      {"nvidia.com/mig-7g.40gb", 1.0, {"a100", "a800"}},
      {"nvidia.com/mig-1g.10gb", 1.0 / 7, {"a100", "a800", "h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-2g.20gb", 2.0 / 7, {"a100", "a800", "h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-3g.40gb", 3.0 / 7, {"a100", "a800", "h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-4g.40gb", 4.0 / 7, {"a100", "a800", "h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-7g.80gb", 1.0, {"a100", "a800", "h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-1g.20gb", 1.0 / 7, {"h100-sxm", "h100-pcie", "h800"}},
      {"nvidia.com/mig-1g.12gb", 1.0 / 7, {"h100-nvl"}},
      {"nvidia.com/mig-7g.94gb", 1.0, {"h100-nvl"}},
      {"nvidia.com/mig-1g.18gb", 1.0 / 7, {"h200"}},
      {"nvidia.com/mig-2g.35gb", 2.0 / 7, {"h200"}},
      {"nvidia.com/mig-3g.71gb", 3.0 / 7, {"h200"}},
      {"nvidia.com/mig-4g.71gb", 4.0 / 7, {"h200"}},
      {"nvidia.com/mig-7g.141gb", 1.0, {"h200"}},
      {"nvidia.com/mig-1g.6gb", 0.25, {"a30"}},
      {"nvidia.com/mig-2g.12gb", 0.5, {"a30"}},
      {"aws.amazon.com/neuroncore", 0.5, {"trainium", "inferentia2"}},
  };
  const Catalog& c = builtin_catalog();
  for (const auto& pc : cases) {
    const PartitionProfile* p = c.find_partition(pc.resource);
    ASSERT_NE(p, nullptr) << pc.resource;
    EXPECT_DOUBLE_EQ(p->fraction, pc.fraction) << pc.resource;
    EXPECT_EQ(p->parent_models, pc.parents) << pc.resource;
    EXPECT_TRUE(c.is_accelerator_resource(pc.resource));
    std::vector<std::string> serving;
    for (const auto* m : c.models_for_resource(pc.resource)) serving.push_back(m->id);
    std::vector<std::string> sorted_parents = pc.parents, sorted_serving = serving;
    std::sort(sorted_parents.begin(), sorted_parents.end());
    std::sort(sorted_serving.begin(), sorted_serving.end());
    EXPECT_EQ(sorted_serving, sorted_parents) << pc.resource;
  }
  // A 1g slice of an H100 SXM is a seventh of 15,832.
  EXPECT_NEAR(c.find_partition("nvidia.com/mig-1g.10gb")->fraction * c.find_model("h100-sxm")->tpp,
              2261.71, 0.01);
  EXPECT_EQ(c.find_partition("nvidia.com/gpu"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Lookups.

std::vector<std::string> ids(const std::vector<const AcceleratorModel*>& models) {
  std::vector<std::string> out;
  for (const auto* m : models) out.push_back(m->id);
  return out;
}

struct LabelCase {
  const char* key;
  const char* value;
  std::vector<std::string> expected;
};

TEST(Lookups, ModelsForLabelMatchValuesCaseInsensitively) {
  const std::vector<LabelCase> cases = {
      {"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3", {"h100-sxm"}},
      {"nvidia.com/gpu.product", "nvidia-h100-80gb-hbm3", {"h100-sxm"}},
      {"nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB", {"a100"}},
      {"nvidia.com/gpu.product", "NVIDIA-A100-PCIE-40GB", {"a100"}},
      {"nvidia.com/gpu.product", "NVIDIA-H100-PCIe", {"h100-pcie"}},
      {"nvidia.com/gpu.product", "NVIDIA-H20", {"h20"}},
      {"nvidia.com/gpu.product", "NVIDIA-A800-SXM4-80GB", {"a800"}},
      {"cloud.google.com/gke-accelerator", "nvidia-tesla-a100", {"a100"}},
      {"cloud.google.com/gke-accelerator", "nvidia-h100-mega-80gb", {"h100-sxm"}},
      {"cloud.google.com/gke-accelerator", "nvidia-h200-141gb", {"h200"}},
      {"cloud.google.com/gke-accelerator", "nvidia-l4", {"l4"}},
      {"cloud.google.com/gke-tpu-accelerator", "tpu-v5-lite-podslice", {"tpu-v5e"}},
      {"cloud.google.com/gke-tpu-accelerator", "tpu-v5p-slice", {"tpu-v5p"}},
      {"node.kubernetes.io/instance-type", "p5.48xlarge", {"h100-sxm"}},
      {"node.kubernetes.io/instance-type", "P4D.24XLARGE", {"a100"}},
      {"node.kubernetes.io/instance-type", "g6e.12xlarge", {"l40s"}},
      {"node.kubernetes.io/instance-type", "g2-standard-8", {"l4"}},
      {"node.kubernetes.io/instance-type", "trn1.32xlarge", {"trainium"}},
      {"node.kubernetes.io/instance-type", "inf2.48xlarge", {"inferentia2"}},
      {"node.kubernetes.io/instance-type", "Standard_ND96isr_H100_v5", {"h100-sxm"}},
      {"amd.com/gpu.device-id", "74A1", {"mi300x"}},
      // Exact key only; unknown values and keys give nothing.
      {"nvidia.com/gpu.product ", "NVIDIA-H20", {}},
      {"nvidia.com/gpu.product", "NVIDIA-H20 ", {}},
      {"nvidia.com/gpu.product", "NVIDIA-Tesla-T4", {}},
      {"kubernetes.io/arch", "amd64", {}},
  };
  for (const auto& lc : cases) {
    EXPECT_EQ(ids(builtin_catalog().models_for_label(lc.key, lc.value)), lc.expected)
        << lc.key << "=" << lc.value;
  }
}

TEST(Lookups, ModelsForResource) {
  const Catalog& c = builtin_catalog();
  const auto gpu = ids(c.models_for_resource("nvidia.com/gpu"));
  EXPECT_EQ(gpu.size(), 22u);
  EXPECT_NE(std::find(gpu.begin(), gpu.end(), "gb200"), gpu.end());
  EXPECT_EQ(ids(c.models_for_resource("amd.com/gpu")),
            (std::vector<std::string>{"mi300x", "mi325x", "mi250x", "mi308x", "mi350x", "mi355x"}));
  EXPECT_EQ(ids(c.models_for_resource("google.com/tpu")),
            (std::vector<std::string>{"tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-v7"}));
  EXPECT_EQ(ids(c.models_for_resource("habana.ai/gaudi")),
            (std::vector<std::string>{"gaudi2", "gaudi3"}));
  EXPECT_EQ(ids(c.models_for_resource("intel.com/gpu")), (std::vector<std::string>{"max-1550"}));
  EXPECT_EQ(ids(c.models_for_resource("aws.amazon.com/neuron")),
            (std::vector<std::string>{"trainium", "trainium2", "trainium3", "inferentia2"}));
  EXPECT_EQ(ids(c.models_for_resource("aws.amazon.com/neurondevice")),
            (std::vector<std::string>{"trainium", "trainium2", "trainium3", "inferentia2"}));
  EXPECT_EQ(ids(c.models_for_resource("huawei.com/Ascend910")),
            (std::vector<std::string>{"ascend-910b", "ascend-910c"}));
  EXPECT_TRUE(c.models_for_resource("cpu").empty());
  EXPECT_TRUE(c.models_for_resource("example.com/fpga").empty());
}

// An unlisted MIG profile (a new GPU's, e.g. B200 1g.23gb) is an accelerator no model is known to
// serve: charged as the vendor's most capable model (issue 13), not as an older MIG parent.
TEST(Lookups, UnknownMigProfileIsAnUnknownNvidiaAccelerator) {
  const Catalog& c = builtin_catalog();
  EXPECT_EQ(c.find_partition("nvidia.com/mig-1g.96gb"), nullptr);
  EXPECT_TRUE(c.is_accelerator_resource("nvidia.com/mig-1g.96gb"));
  EXPECT_EQ(c.classify_resource("nvidia.com/mig-1g.96gb"), ResourceClass::kUnknownAccelerator);
  EXPECT_TRUE(c.models_for_resource("nvidia.com/mig-1g.96gb").empty());
  const auto candidates = ids(c.worst_case_models("nvidia.com/mig-1g.96gb"));
  for (const char* id : {"a100", "h100-sxm", "h200", "b200", "gb200", "b300", "l4"}) {
    EXPECT_NE(std::find(candidates.begin(), candidates.end(), id), candidates.end()) << id;
  }
  EXPECT_EQ(std::find(candidates.begin(), candidates.end(), "mi300x"), candidates.end());
}

TEST(Lookups, IsAcceleratorResource) {
  const Catalog& c = builtin_catalog();
  for (const char* r :
       {"nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi", "intel.com/gpu",
        "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice",
        "nvidia.com/mig-3g.40gb", "nvidia.com/gpux"}) {
    EXPECT_TRUE(c.is_accelerator_resource(r)) << r;
  }
  for (const char* r :
       {"cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/foo", ""}) {
    EXPECT_FALSE(c.is_accelerator_resource(r)) << r;
  }
}

TEST(Lookups, FindModel) {
  EXPECT_NE(builtin_catalog().find_model("h100-sxm"), nullptr);
  EXPECT_EQ(builtin_catalog().find_model("H100-SXM"), nullptr);  // ids are exact
  EXPECT_EQ(builtin_catalog().find_model(""), nullptr);
}

TEST(Lookups, ACopiedCatalogAnswersFromItsOwnData) {
  Catalog copy = builtin_catalog();
  const AcceleratorModel* m = copy.find_model("h20");
  ASSERT_NE(m, nullptr);
  EXPECT_GE(m, copy.models.data());
  EXPECT_LT(m, copy.models.data() + copy.models.size());
}

// ---------------------------------------------------------------------------------------------
// finalize() validation.

TEST(Finalize, RejectsBadModelsWithEveryProblem) {
  Catalog c;
  AcceleratorModel good;
  good.id = "x";
  good.dense_tops = 100;
  good.bit_length = 8;
  c.models = {good, good};
  c.models[1].dense_tops = 0;
  c.models[1].bit_length = 0;
  try {
    c.finalize();
    FAIL() << "expected PolicyError";
  } catch (const PolicyError& e) {
    ASSERT_EQ(e.diagnostics().size(), 3u);
    EXPECT_EQ(e.diagnostics()[0].message, "duplicate model id \"x\"");
    EXPECT_EQ(e.diagnostics()[1].message, "model \"x\": denseTops must be greater than 0");
    EXPECT_EQ(e.diagnostics()[2].message, "model \"x\": bitLength must be greater than 0");
  }
}

TEST(Finalize, RejectsBadPartitions) {
  Catalog c;
  AcceleratorModel m;
  m.id = "x";
  m.dense_tops = 100;
  m.bit_length = 8;
  m.resources = {"example.com/acc"};
  c.models = {m};
  c.partitions = {{"example.com/acc", {"x"}, 0.5}, {"example.com/half", {"y"}, 1.5}};
  try {
    c.finalize();
    FAIL() << "expected PolicyError";
  } catch (const PolicyError& e) {
    std::vector<std::string> messages;
    for (const auto& d : e.diagnostics()) messages.push_back(d.message);
    EXPECT_EQ(messages,
              (std::vector<std::string>{
                  "partition \"example.com/acc\" is also a whole-device resource of a model",
                  "partition \"example.com/half\": fraction must be greater than 0 and at most 1",
                  "partition \"example.com/half\": unknown parent model \"y\""}));
  }
}

TEST(Finalize, ComputesDerivedFields) {
  Catalog c;
  AcceleratorModel m;
  m.id = "synthetic";
  m.dense_tops = 300;
  m.bit_length = 8;       // TPP 2400
  m.die_area_mm2 = 1500;  // PD 1.6: the .b band's lower corner
  c.models = {m};
  c.finalize();
  EXPECT_DOUBLE_EQ(c.models[0].tpp, 2400);
  EXPECT_DOUBLE_EQ(*c.models[0].pd, 1.6);
  EXPECT_EQ(c.models[0].export_class, kB);
}

// ---------------------------------------------------------------------------------------------
// merge_catalog_yaml: merge semantics.

Catalog merged(const std::string& yaml, std::vector<Diagnostic>& errors) {
  Catalog c = builtin_catalog();
  merge_catalog_yaml(YAML::Load(yaml), "policy.yaml", c, errors);
  return c;
}

TEST(MergeCatalogYaml, OverridesAnExistingModelFieldByField) {
  std::vector<Diagnostic> errors;
  Catalog c = merged("models:\n  - id: h20\n    denseTops: 600\n", errors);
  ASSERT_TRUE(errors.empty()) << errors[0].to_string();
  const AcceleratorModel* m = c.find_model("h20");
  EXPECT_DOUBLE_EQ(m->tpp, 4800);  // recomputed: 600 x 8
  EXPECT_EQ(m->export_class, kA);
  EXPECT_EQ(m->display_name, "NVIDIA H20");  // untouched fields stay
  EXPECT_EQ(c.models_for_label("nvidia.com/gpu.product", "NVIDIA-H20").size(), 1u);
  EXPECT_EQ(c.models.size(), builtin_catalog().models.size());
}

TEST(MergeCatalogYaml, AGivenListReplacesTheOldList) {
  std::vector<Diagnostic> errors;
  Catalog c =
      merged("models:\n  - id: l4\n    nodeLabels:\n      example.com/card: [my-l4]\n", errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_TRUE(c.models_for_label("nvidia.com/gpu.product", "NVIDIA-L4").empty());
  EXPECT_EQ(ids(c.models_for_label("example.com/card", "MY-L4")), std::vector<std::string>{"l4"});
}

TEST(MergeCatalogYaml, AddsModelsPartitionsAndPrefixes) {
  std::vector<Diagnostic> errors;
  Catalog c = merged(R"(models:
  - id: acme-x1
    vendor: Acme
    name: Acme X1
    denseTops: 250
    bitLength: 8
    dieAreaMm2: 500
    datacenter: true
    resources: [acme.example/x1]
    nodeLabels:
      acme.example/model: [X1]
    source: "vendor sheet [?]"
partitions:
  - resource: acme.example/x1-half
    parents: [acme-x1]
    fraction: 1/2
  - resource: nvidia.com/mig-1g.10gb
    parents: [h100-sxm]
    fraction: 0.142857
acceleratorResourcePrefixes: [acme.example/x1-, nvidia.com/mig-]
)",
                     errors);
  ASSERT_TRUE(errors.empty()) << errors[0].to_string();
  const AcceleratorModel* m = c.find_model("acme-x1");
  ASSERT_NE(m, nullptr);
  EXPECT_DOUBLE_EQ(m->tpp, 2000);
  EXPECT_DOUBLE_EQ(*m->pd, 4);
  EXPECT_EQ(m->export_class, kB);  // TPP >= 1600, 3.2 <= PD < 5.92
  EXPECT_DOUBLE_EQ(c.find_partition("acme.example/x1-half")->fraction, 0.5);
  // An existing partition is replaced whole.
  EXPECT_EQ(c.find_partition("nvidia.com/mig-1g.10gb")->parent_models,
            std::vector<std::string>{"h100-sxm"});
  EXPECT_EQ(c.accelerator_resource_prefixes,
            (std::vector<std::string>{"nvidia.com/mig-", "acme.example/x1-"}));
  EXPECT_TRUE(c.is_accelerator_resource("acme.example/x1-quarter"));
}

TEST(MergeCatalogYaml, NullCatalogAddsNothing) {
  std::vector<Diagnostic> errors;
  Catalog c = builtin_catalog();
  merge_catalog_yaml(YAML::Node(), "p.yaml", c, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(c.models.size(), builtin_catalog().models.size());
}

TEST(ParseCatalogYaml, ParsesAMinimalCatalogWithDefaults) {
  Catalog c = parse_catalog_yaml(
      "models:\n  - {id: x, vendor: V, name: X, denseTops: 1, "
      "bitLength: 8, resources: [v.io/x]}\n",
      "mini.yaml");
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_DOUBLE_EQ(c.models[0].tpp, 8);
  EXPECT_TRUE(c.models[0].datacenter);  // default
}

TEST(ParseCatalogYaml, SyntaxErrorHasAPosition) {
  try {
    parse_catalog_yaml("models:\n  - id: [unclosed\n", "bad.yaml");
    FAIL() << "expected PolicyError";
  } catch (const PolicyError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].file, "bad.yaml");
    EXPECT_GT(e.diagnostics()[0].line, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// merge_catalog_yaml: every error with its exact line:column.

struct MergeErrorCase {
  const char* name;
  const char* yaml;
  std::vector<std::string> expected;  // "line:col: message"
};

const std::vector<MergeErrorCase> kMergeErrorCases = {
    {"not_a_mapping",
     "- a\n- b\n",
     {"1:1: catalog must be a mapping with models, partitions, acceleratorResourcePrefixes, asOf, "
      "got a list"}},
    {"unknown_top_level_key",
     "model:\n  - id: x\n",
     {"1:1: unknown field \"model\" in catalog (did you mean \"models\"?), expected one of models, "
      "partitions, acceleratorResourcePrefixes, asOf"}},
    {"unknown_model_field",
     "models:\n  - id: h20\n    denseTop: 5\n",
     {"3:5: unknown field \"denseTop\" in model (did you mean \"denseTops\"?), expected one of id, "
      "vendor, name, denseTops, bitLength, dieAreaMm2, datacenter, resources, nodeLabels, source, "
      "dieAreaUpperBound, dramBandwidthGBs, interconnectBandwidthGBs, statedClass"}},
    {"models_not_a_list",
     "models:\n  id: x\n",
     {"2:3: models must be a list of models, got a mapping"}},
    {"model_not_a_mapping",
     "models:\n  - h100\n",
     {"2:5: a model must be a mapping with id, vendor, name, denseTops, bitLength, dieAreaMm2, "
      "datacenter, resources, nodeLabels, source, dieAreaUpperBound, dramBandwidthGBs, "
      "interconnectBandwidthGBs, statedClass, got \"h100\""}},
    {"model_without_id", "models:\n  - vendor: X\n", {"2:5: model has no \"id\""}},
    {"negative_bandwidth",
     "models:\n  - id: h20\n    dramBandwidthGBs: -1\n",
     {"3:23: dramBandwidthGBs must be 0 (unknown) or more GB/s, got \"-1\""}},
    {"bad_stated_class",
     "models:\n  - id: h20\n    statedClass: 3A090.c\n",
     {"3:18: statedClass must be 3A090.a, 3A090.b or \"not controlled\", got \"3A090.c\""}},
    {"bad_id",
     "models:\n  - id: H100 SXM\n",
     {"2:9: invalid model id \"H100 SXM\", expected lower-case letters, digits, '-', '.' or '_'"}},
    {"new_model_missing_fields",
     "models:\n  - id: newchip\n    vendor: X\n",
     {"2:5: model \"newchip\" has no \"name\" (required for a new model; existing ids can be "
      "overridden field by field)",
      "2:5: model \"newchip\" has no \"denseTops\" (required for a new model; existing ids can be "
      "overridden field by field)",
      "2:5: model \"newchip\" has no \"bitLength\" (required for a new model; existing ids can be "
      "overridden field by field)"}},
    {"duplicate_id",
     "models:\n  - id: h20\n  - id: h20\n",
     {"3:9: duplicate model id \"h20\" (first at line 2)"}},
    {"quoted_number",
     "models:\n  - id: h20\n    denseTops: \"296\"\n",
     {"3:16: denseTops must be a number, got \"296\""}},
    {"empty_number_points_at_key",
     "models:\n  - id: h20\n    denseTops:\n    bitLength: 8\n",
     {"3:5: denseTops must be a number, got null"}},
    {"zero_tops",
     "models:\n  - id: h20\n    denseTops: 0\n",
     {"3:16: denseTops must be greater than 0 (dense TOPS/TFLOPS at bitLength)"}},
    {"fractional_bits",
     "models:\n  - id: h20\n    bitLength: 7.5\n",
     {"3:16: bitLength must be a whole number of bits between 1 and 256, got \"7.5\""}},
    {"negative_area",
     "models:\n  - id: h20\n    dieAreaMm2: -1\n",
     {"3:17: dieAreaMm2 must be 0 (unknown) or more, got \"-1\""}},
    {"nan_tops",
     "models:\n  - id: h20\n    denseTops: .nan\n",
     {"3:16: denseTops must be a number, got \".nan\""}},
    {"yes_is_not_a_bool",
     "models:\n  - id: h20\n    datacenter: yes\n",
     {"3:17: datacenter must be true or false, got \"yes\""}},
    {"resource_without_domain",
     "models:\n  - id: h20\n    resources: [gpu]\n",
     {"3:17: invalid resources entry \"gpu\", expected a domain-qualified resource name like "
      "nvidia.com/gpu"}},
    {"resources_not_a_list",
     "models:\n  - id: h20\n    resources: nvidia.com/gpu\n",
     {"3:16: resources must be a list of strings, got \"nvidia.com/gpu\""}},
    {"label_values_not_a_list",
     "models:\n  - id: h20\n    nodeLabels:\n      nvidia.com/gpu.product: NVIDIA-H20\n",
     {"4:31: nodeLabels.nvidia.com/gpu.product must be a list of strings, got \"NVIDIA-H20\""}},
    {"partition_unknown_parent",
     "partitions:\n  - resource: nvidia.com/mig-9g\n    parents: [h100-sxm, h100sxm]\n"
     "    fraction: 1/7\n",
     {"3:25: unknown model \"h100sxm\" in parents (did you mean \"h100-sxm\"?)"}},
    {"partition_missing_fraction",
     "partitions:\n  - resource: nvidia.com/mig-9g\n    parents: [h200]\n",
     {"2:5: partition has no \"fraction\""}},
    {"partition_unknown_field_and_bad_fraction",
     "partitions:\n  - {resource: a.io/p, parent: [h200], parents: [h200], fraction: 2}\n",
     {"2:24: unknown field \"parent\" in partition (did you mean \"parents\"?), expected one of "
      "resource, parents, fraction",
      "2:67: fraction must be a number greater than 0 and at most 1, or a ratio like \"1/7\", got "
      "\"2\""}},
    {"label_value_is_a_mapping",
     "models:\n  - id: h20\n    nodeLabels:\n      k.io/x: [{a: b}]\n",
     {"4:16: nodeLabels.k.io/x must be a list of strings, got a mapping as an element"}},
    {"non_scalar_key",
     "models:\n  - id: h20\n    ? [a]\n    : 1\n",
     {"3:7: keys in model must be strings"}},
    {"partition_bad_ratio",
     "partitions:\n  - {resource: nvidia.com/mig-9g, parents: [h200], fraction: 8/7}\n",
     {"2:62: fraction must be a number greater than 0 and at most 1, or a ratio like \"1/7\", got "
      "\"8/7\""}},
    {"partition_zero_fraction",
     "partitions:\n  - {resource: nvidia.com/mig-9g, parents: [h200], fraction: 0}\n",
     {"2:62: fraction must be a number greater than 0 and at most 1, or a ratio like \"1/7\", got "
      "\"0\""}},
    {"partition_duplicate",
     "partitions:\n  - {resource: a.io/p, parents: [h200], fraction: 1}\n"
     "  - {resource: a.io/p, parents: [h200], fraction: 1}\n",
     {"3:16: duplicate partition \"a.io/p\" (first at line 2)"}},
    {"partition_is_a_whole_resource",
     "partitions:\n  - {resource: nvidia.com/gpu, parents: [h200], fraction: 1/2}\n",
     {"1:1: partition \"nvidia.com/gpu\" is also a whole-device resource of a model"}},
    {"prefix_without_domain",
     "acceleratorResourcePrefixes: [mig-]\n",
     {"1:31: invalid acceleratorResourcePrefixes entry \"mig-\", expected a resource name prefix "
      "with a domain, like nvidia.com/mig-"}},
    {"duplicate_key",
     "models: []\nmodels: []\n",
     {"2:1: duplicate field \"models\" in catalog (first at line 1)"}},
    {"several_errors_all_reported",
     "models:\n  - id: h20\n    denseTops: -3\n  - id: a100\n    bitLength: 0\n",
     {"3:16: denseTops must be greater than 0 (dense TOPS/TFLOPS at bitLength)",
      "5:16: bitLength must be a whole number of bits between 1 and 256, got \"0\""}},
};

class MergeError : public testing::TestWithParam<MergeErrorCase> {};

TEST_P(MergeError, ReportsPositionAndExpectation) {
  const auto& c = GetParam();
  std::vector<Diagnostic> errors;
  merged(c.yaml, errors);
  std::vector<std::string> got;
  for (const auto& d : errors) {
    EXPECT_EQ(d.file, "policy.yaml");
    got.push_back(std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message);
  }
  EXPECT_EQ(got, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Catalog, MergeError, testing::ValuesIn(kMergeErrorCases),
                         [](const testing::TestParamInfo<MergeErrorCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace exportgate::policy
