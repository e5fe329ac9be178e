import Testing

/// Every suite that talks to the shared test server, run one test at a time: under the suite's
/// parallel load Cyrus 3.10 on two cores occasionally refused valid creates, which made the tests
/// flaky without saying anything about jmirror.
@Suite(.serialized) enum Integration {}
