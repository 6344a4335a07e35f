// A container receives a replica copy piece by piece as it arrives (Container::
// ReceiveMigrationData): what it builds must be exactly what parsing the whole copy builds,
// wherever the pieces are cut, and a MessageContainer must apply each complete field at once, so
// that a copy's destination holds a chunk and one field beyond the state, not the copy again.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/wire_format_lite.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "examples/counter.pb.h"
#include "gridrpc/service.h"

namespace gridrpc {
namespace {

using google::protobuf::FileDescriptorProto;
using google::protobuf::util::MessageDifferencer;

// A message with most kinds of field: strings, varints, enums, nested and repeated messages,
// packed fields (source_code_info's paths and spans), and options.
FileDescriptorProto RichMessage() {
  FileDescriptorProto file;
  FileDescriptorProto::descriptor()->file()->CopyTo(&file);
  // Source locations carry the packed fields (paths and spans); the pool keeps none, so add some.
  for (int i = 0; i < 200; ++i) {
    auto* location = file.mutable_source_code_info()->add_location();
    for (int step : {4, i % 7, 2, i}) location->add_path(step);
    for (int at : {i, 2, i + 1, 40}) location->add_span(at);
  }
  return file;
}

// Feeds `data` to a new receiver in pieces of `piece` bytes (the last may be shorter).
absl::Status Receive(std::string_view data, size_t piece, google::protobuf::Message* into) {
  std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(into);
  for (size_t at = 0; at < data.size(); at += piece) {
    if (absl::Status s = receiver->Append(data.substr(at, piece)); !s.ok()) return s;
  }
  return receiver->Finish();
}

TEST(MessageReceiverTest, BuildsWhatParsingTheWholeBuildsWhereverThePiecesAreCut) {
  const FileDescriptorProto expected = RichMessage();
  const std::string data = expected.SerializeAsString();
  ASSERT_GT(data.size(), 8192u);  // more than two of the largest pieces below
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{4093}, data.size()}) {
    FileDescriptorProto received;
    ASSERT_TRUE(Receive(data, piece, &received).ok()) << "pieces of " << piece;
    EXPECT_TRUE(MessageDifferencer::Equals(received, expected)) << "pieces of " << piece;
  }
}

TEST(MessageReceiverTest, EveryCutIntoTwoPiecesBuildsTheSame) {
  examples::CounterState expected;
  for (int i = 0; i < 20; ++i) (*expected.mutable_values())["key-" + std::to_string(i)] = i * 977;
  const std::string data = expected.SerializeAsString();
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    examples::CounterState received;
    std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(&received);
    ASSERT_TRUE(receiver->Append(std::string_view(data).substr(0, cut)).ok()) << cut;
    ASSERT_TRUE(receiver->Append(std::string_view(data).substr(cut)).ok()) << cut;
    ASSERT_TRUE(receiver->Finish().ok()) << cut;
    EXPECT_TRUE(MessageDifferencer::Equals(received, expected)) << cut;
  }
}

// The point of receiving in pieces: a field is in the message as soon as its last byte arrived,
// so the receiver never holds more than the piece it was given and one incomplete field.
TEST(MessageReceiverTest, AppliesEachFieldAsSoonAsItIsComplete) {
  std::vector<std::string> entries;  // each one map entry: one top-level field
  for (int i = 0; i < 50; ++i) {
    examples::CounterState one;
    (*one.mutable_values())["k" + std::to_string(i)] = i;
    entries.push_back(one.SerializeAsString());
  }
  examples::CounterState received;
  std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(&received);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string_view entry = entries[i];
    const size_t half = entry.size() / 2;
    ASSERT_TRUE(receiver->Append(entry.substr(0, half)).ok());
    EXPECT_EQ(received.values_size(), static_cast<int>(i)) << "half of entry " << i;
    ASSERT_TRUE(receiver->Append(entry.substr(half)).ok());
    EXPECT_EQ(received.values_size(), static_cast<int>(i + 1)) << "all of entry " << i;
  }
  ASSERT_TRUE(receiver->Finish().ok());
  EXPECT_EQ(received.values().at("k49"), 49);
}

TEST(MessageReceiverTest, KeepsUnknownFieldsAndGroups) {
  examples::CounterState known;
  (*known.mutable_values())["a"] = 1;
  std::string data = known.SerializeAsString();
  {
    using google::protobuf::internal::WireFormatLite;
    google::protobuf::io::StringOutputStream out(&data);
    google::protobuf::io::CodedOutputStream coded(&out);
    WireFormatLite::WriteTag(90, WireFormatLite::WIRETYPE_START_GROUP, &coded);
    WireFormatLite::WriteInt64(1, 7, &coded);
    WireFormatLite::WriteString(2, "inside the group", &coded);
    WireFormatLite::WriteTag(90, WireFormatLite::WIRETYPE_END_GROUP, &coded);
    WireFormatLite::WriteFixed64(91, 42, &coded);
  }
  examples::CounterState expected;
  ASSERT_TRUE(expected.ParseFromString(data));
  for (size_t piece : {size_t{1}, size_t{3}, data.size()}) {
    examples::CounterState received;
    ASSERT_TRUE(Receive(data, piece, &received).ok()) << "pieces of " << piece;
    EXPECT_TRUE(MessageDifferencer::Equals(received, expected)) << "pieces of " << piece;
    const auto& unknown = received.GetReflection()->GetUnknownFields(received);
    ASSERT_EQ(unknown.field_count(), 2);
    EXPECT_EQ(unknown.field(0).type(), google::protobuf::UnknownField::TYPE_GROUP);
  }
}

TEST(MessageReceiverTest, DataThatDoesNotParseIsRefusedNamingTheType) {
  examples::CounterState state;
  (*state.mutable_values())["a"] = 1;
  const std::string whole = state.SerializeAsString();
  struct Case {
    std::string name;
    std::string data;
  };
  const std::vector<Case> cases = {
      {"truncated", whole.substr(0, whole.size() - 1)},
      {"a zero tag", std::string("\0\0\0\0\0\0", 6)},
      {"an end-group tag at the top", std::string("\x0c", 1) + whole},
      {"wire type 7", std::string("\x0f\x01\x02\x03\x04\x05", 6)},
      {"a length past the end", std::string("\x0a\x7f", 2) + std::string(10, 'x')},
      {"a field that is not a map entry", std::string("\x0a\x03\xff\xff\xff", 5)},
  };
  for (const Case& c : cases) {
    for (size_t piece : {size_t{1}, c.data.size()}) {
      examples::CounterState received;
      const absl::Status status = Receive(c.data, piece, &received);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
      EXPECT_NE(status.message().find("examples.CounterState"), std::string_view::npos)
          << c.name << ": " << status;
    }
  }
}

// A malformed varint must be refused when its bytes are here: taken for a field still to come,
// it would hold everything after it in memory until the end.
TEST(MessageReceiverTest, AMalformedVarintIsRefusedOnceItsTenBytesAreHere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a value of 11 bytes", std::string("\x08") + std::string(10, '\xff') + "\x01"},
      {"a length of 11 bytes", std::string("\x0a") + std::string(10, '\xff') + "\x01"},
      {"a length over 2 GB", std::string("\x0a\xff\xff\xff\xff\x0f") + std::string(5, 'x')},
  };
  for (const auto& [name, data] : cases) {
    examples::CounterState received;
    std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(&received);
    const absl::Status status = receiver->Append(data);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << status;
    EXPECT_NE(status.message().find("examples.CounterState"), std::string_view::npos) << name;
  }
}

TEST(MessageReceiverTest, AnErrorIsFinal) {
  examples::CounterState received;
  std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(&received);
  EXPECT_FALSE(receiver->Append(std::string("\0\0\0\0\0", 5)).ok());
  examples::CounterState valid;
  (*valid.mutable_values())["a"] = 1;
  EXPECT_FALSE(receiver->Append(valid.SerializeAsString()).ok());
  EXPECT_FALSE(receiver->Finish().ok());
}

TEST(MessageReceiverTest, MissingRequiredFieldsAreRefusedAtTheEnd) {
  FileDescriptorProto partial;
  partial.set_name("x.proto");
  // UninterpretedOption.NamePart has two required fields; is_extension is left out.
  partial.mutable_options()->add_uninterpreted_option()->add_name()->set_name_part("x");
  const std::string data = partial.SerializePartialAsString();
  FileDescriptorProto received;
  const absl::Status status = Receive(data, 5, &received);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("is_extension"), std::string_view::npos) << status;
}

TEST(MessageContainerTest, ReceivesIntoItsStateAndAppliesWholeDataTheSameWay) {
  examples::CounterState state;
  for (int i = 0; i < 100; ++i) (*state.mutable_values())[std::to_string(i)] = i;
  const std::string data = state.SerializeAsString();

  MessageContainer<examples::CounterState> received;
  std::unique_ptr<MigrationReceiver> receiver = received.ReceiveMigrationData();
  for (size_t at = 0; at < data.size(); at += 10) {
    ASSERT_TRUE(receiver->Append(std::string_view(data).substr(at, 10)).ok());
  }
  ASSERT_TRUE(receiver->Finish().ok());
  EXPECT_TRUE(MessageDifferencer::Equals(received.state(), state));

  MessageContainer<examples::CounterState> applied;
  ASSERT_TRUE(applied.ApplyMigrationData(data).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(applied.state(), state));
  // On error the container is left as it was.
  EXPECT_FALSE(applied.ApplyMigrationData(data.substr(0, data.size() - 1)).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(applied.state(), state));
}

// A container of the user's own: the default receiver hands it the pieces joined, once.
class RecordingContainer final : public Container {
 public:
  absl::StatusOr<std::string> ToMigrationData() const override { return data; }
  absl::Status ApplyMigrationData(std::string_view in) override {
    ++applied;
    data = std::string(in);
    return absl::OkStatus();
  }
  void Clear() override { data.clear(); }

  std::string data;
  int applied = 0;
};

TEST(ContainerTest, TheDefaultReceiverAppliesThePiecesJoinedOnce) {
  RecordingContainer container;
  std::unique_ptr<MigrationReceiver> receiver = container.ReceiveMigrationData();
  for (std::string_view piece : {"one ", "", "two ", "three"}) {
    ASSERT_TRUE(receiver->Append(piece).ok());
  }
  EXPECT_EQ(container.applied, 0);
  ASSERT_TRUE(receiver->Finish().ok());
  EXPECT_EQ(container.applied, 1);
  EXPECT_EQ(container.data, "one two three");
}

}  // namespace
}  // namespace gridrpc
