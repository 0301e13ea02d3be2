#include "bpf_program.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "common.h"

namespace pcap_pipe {
namespace {

// A handle that libpcap believes reads a capture file, made from just a classic pcap file header in
// memory. The compiler treats savefiles differently from live handles (pcap_open_dead counts as live):
// for DLT_NULL/LOOP "ip6" it must accept the AF_INET6 value of every OS (24, 28, 30), not only the
// host's, which is what `tcpdump -r` does. The header is written in host byte order (not "swapped").
pcap_t* OpenSavefileStub(int linkType, int snaplen, char* errbuf) {
#if defined(_WIN32)
  return pcap_open_dead(LinktypeToDlt(linkType), snaplen);
#else
  struct FileHeader {
    uint32_t magic;
    uint16_t versionMajor;
    uint16_t versionMinor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linkType;
  };
  static_assert(sizeof(FileHeader) == 24, "classic pcap file header is 24 bytes");
  FileHeader header{0xa1b2c3d4, 2, 4, 0, 0, static_cast<uint32_t>(snaplen), static_cast<uint32_t>(linkType)};
  // fmemopen reads from this buffer; libpcap only reads the header at open time, before we return.
  FILE* file = fmemopen(&header, sizeof header, "rb");
  if (file == nullptr) return pcap_open_dead(LinktypeToDlt(linkType), snaplen);
  pcap_t* handle = pcap_fopen_offline(file, errbuf);
  if (handle == nullptr) fclose(file);  // on success pcap_close closes it
  return handle;
#endif
}

}  // namespace

Napi::Function BpfProgram::Define(Napi::Env env) {
  return DefineClass(env, "BpfProgram",
                     {
                         InstanceMethod<&BpfProgram::Matches>("matches"),
                         InstanceAccessor<&BpfProgram::Length>("length"),
                         InstanceMethod<&BpfProgram::Dump>("dump"),
                     });
}

BpfProgram::BpfProgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfProgram>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "BpfProgram(expression: string, linkType: number, snaplen: number, optimize?: boolean)")
        .ThrowAsJavaScriptException();
    return;
  }
  std::string expression = info[0].As<Napi::String>().Utf8Value();
  int linkType = info[1].As<Napi::Number>().Int32Value();
  int snaplen = info[2].As<Napi::Number>().Int32Value();
  bool optimize = info.Length() < 4 || info[3].ToBoolean().Value();

  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* handle = OpenSavefileStub(linkType, snaplen, errbuf);
  if (handle == nullptr) {
    ThrowCoded(env, kCodeBpf, "cannot compile a filter for link type " + std::to_string(linkType) + ": " + errbuf);
    return;
  }
  // No live interface, so no netmask: only "ip broadcast" needs one, and it then fails with a clear message.
  if (pcap_compile(handle, &program_, expression.c_str(), optimize ? 1 : 0, PCAP_NETMASK_UNKNOWN) != 0) {
    std::string message = "invalid filter \"" + expression + "\" for link type " + DatalinkName(linkType) + ": " +
                          pcap_geterr(handle);
    pcap_close(handle);
    ThrowCoded(env, kCodeBpf, message);
    return;
  }
  compiled_ = true;
  pcap_close(handle);  // the compiled program does not refer to the handle
}

BpfProgram::~BpfProgram() {
  if (compiled_) pcap_freecode(&program_);
}

Napi::Value BpfProgram::Matches(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "matches(data: Buffer, wireLength: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<u_char> data = info[0].As<Napi::Buffer<u_char>>();
  pcap_pkthdr header{};
  header.caplen = static_cast<bpf_u_int32>(data.Length());
  // BPF reads the wire length for "len" and "greater/less"; it must not be below what was captured.
  uint32_t wire = info[1].As<Napi::Number>().Uint32Value();
  header.len = wire < header.caplen ? header.caplen : wire;
  return Napi::Boolean::New(env, pcap_offline_filter(&program_, &header, data.Data()) != 0);
}

Napi::Value BpfProgram::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), program_.bf_len);
}

}  // namespace pcap_pipe

namespace pcap_pipe {

Napi::Value BpfProgram::Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array lines = Napi::Array::New(env, program_.bf_len);
  for (u_int i = 0; i < program_.bf_len; i++) {
    const char* line = bpf_image(&program_.bf_insns[i], static_cast<int>(i));
    lines.Set(i, Napi::String::New(env, line != nullptr ? line : "?"));
  }
  return lines;
}

}  // namespace pcap_pipe
