// parse_list_page (issue 19): each item of a list page goes to the caller as soon as it is
// parsed, with the kind and apiVersion list items lack, so a page is never held whole as JSON;
// a malformed page fails (never a default kind, continue token or resourceVersion); the JSON
// depth bound still holds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "webhook/kube_watch.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

std::vector<json> parse_all(std::string_view body, wh::ListPage* page = nullptr) {
  std::vector<json> items;
  const wh::ListPage p = wh::parse_list_page(body, [&](json& item) { items.push_back(item); });
  if (page) *page = p;
  return items;
}

TEST(ListPage, ItemsGetTheListsKindAndTheMetadataIsRead) {
  wh::ListPage page;
  const auto items = parse_all(
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"c2"},)"
      R"("items":[{"metadata":{"name":"a"}},{"kind":"Other","metadata":{"name":"b"}}]})",
      &page);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], json::parse(R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}})"));
  EXPECT_EQ(items[1]["kind"], "Other") << "an item's own kind is kept";
  EXPECT_EQ(page.items, 2u);
  EXPECT_EQ(page.continue_token, "c2");
  EXPECT_EQ(page.resource_version, "42");
}

// The page is taken apart while it is parsed: the items before a syntax error have reached the
// caller when the error is found. A page parsed whole first hands over none.
TEST(ListPage, EachItemIsHandedOverAsSoonAsItIsParsed) {
  std::vector<std::string> seen;
  EXPECT_THROW(
      wh::parse_list_page(R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[)"
                          R"({"metadata":{"name":"a"}},{"metadata":{"name":"b"}},{"metadata":{"na)",
                          [&](json& item) { seen.push_back(item["metadata"]["name"]); }),
      wh::ListDecodeError);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST(ListPage, AKindAfterTheItemsIsStillRestored) {
  wh::ListPage page;
  const auto items = parse_all(
      R"({"items":[{"metadata":{"name":"a"}}],"kind":"NodeList","apiVersion":"v1","metadata":{}})",
      &page);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["kind"], "Node");
  EXPECT_EQ(items[0]["apiVersion"], "v1");
  EXPECT_EQ(page.items, 1u);
}

TEST(ListPage, EmptyPages) {
  wh::ListPage page;
  EXPECT_TRUE(
      parse_all(
          R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]})",
          &page)
          .empty());
  EXPECT_EQ(page.resource_version, "7");
  EXPECT_EQ(page.items, 0u);
  EXPECT_TRUE(parse_all(R"({"kind":"PodList","apiVersion":"v1","items":null})").empty());
}

TEST(ListPage, MalformedPagesFail) {
  for (const char* body : {
           "not json",
           R"([{"metadata":{"name":"a"}}])",
           R"({"kind":"PodList","apiVersion":"v1","items":["a"]})",
           R"({"kind":"PodList","apiVersion":"v1","items":[[]]})",
           R"({"kind":7,"apiVersion":"v1","items":[{"metadata":{"name":"a"}}]})",
           R"({"kind":"PodList","apiVersion":["v1"],"items":[]})",
           R"({"kind":"PodList","apiVersion":"v1","metadata":[],"items":[]})",
           R"({"kind":"PodList","apiVersion":"v1","metadata":{"continue":3},"items":[]})",
           R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":null},"items":[]})",
       }) {
    SCOPED_TRACE(body);
    EXPECT_THROW(parse_all(body), wh::ListDecodeError);
  }
}

TEST(ListPage, TheJsonDepthBoundHolds) {
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  EXPECT_THROW(parse_all(R"({"kind":"PodList","apiVersion":"v1","items":[{"spec":)" + deep + "}]}"),
               wh::ListDecodeError);
}

}  // namespace
