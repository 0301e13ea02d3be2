// Offline BPF: a filter compiled for a link type and snaplen without a live handle (pcap_open_dead +
// pcap_compile), tested against packet bytes with pcap_offline_filter. Lets the tcpdump filter language
// work on files and pipes, not only on live captures.
#pragma once

#include <napi.h>
#include <pcap/pcap.h>

namespace pcap_pipe {

// JS: new BpfProgram(expression: string, linkType: number, snaplen: number, optimize: boolean)
//     .matches(data: Buffer, wireLength: number): boolean
//     .length: number   (instructions)
//     .dump(): string[] (the program as text, like tcpdump -d)
class BpfProgram : public Napi::ObjectWrap<BpfProgram> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfProgram(const Napi::CallbackInfo& info);
  ~BpfProgram() override;

 private:
  Napi::Value Matches(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Dump(const Napi::CallbackInfo& info);

  bpf_program program_{};
  bool compiled_ = false;
};

}  // namespace pcap_pipe
