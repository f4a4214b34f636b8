/**
 * IKEv2 golden bytes, as data. Each vector names where it came from; none was produced by the code
 * under test.
 *
 * - "wireshark": the four datagrams of wireshark/test/captures/ikev2-decrypt-aes128ccm12.pcap (a
 *   real strongSwan-style exchange), as embedded byte-for-byte in scapy's test/contrib/ikev2.uts
 *   (commit ac38b273405b038104df096fe941878937da87cd), Ethernet/IPv4/UDP headers stripped. Their
 *   SK plaintexts were recovered with AES-128-CCM-12 and the SK_ei/SK_er of that capture, listed
 *   in wireshark/test/config/ikev2_decryption_table.tmpl; the ICVs verified, so they are genuine.
 * - "aosp": test data of Android's IKE library (platform/packages/modules/IPsec,
 *   tests/iketests/.../ike/message/*Test.java): IkeMessageTest's IKE_SA_INIT packet, IKE_AUTH packet
 *   with its decrypted, padded body, and empty INFORMATIONAL; IkeTsPayloadTest,
 *   IkeDeletePayloadTest and IkeNotifyPayloadTest payloads. They look captured (real DH values,
 *   a vendor ID, a PSK AUTH), but that is not checkable: no keys are published, and that test mocks
 *   the cipher to return the plaintext, so the IKE_AUTH ciphertext and plaintext are not proven
 *   to belong together. The TS, Delete-with-two-SPIs and REKEY_SA ones are hand-built by AOSP.
 * - "hand": built here field by field from the RFC 7296 diagrams, one field per hex group. The
 *   X25519 key share is Alice's public key from RFC 7748 §6.1; the NAT_DETECTION data is
 *   SHA-1(SPIi | SPIr | IP | port) for 198.51.100.10:500 and 203.0.113.10:500 (RFC 7296 §2.23).
 */

export interface MessageVector {
  readonly name: string;
  readonly source: 'wireshark' | 'aosp' | 'hand';
  readonly hex: string;
  /** The SK plaintext with padding and Pad Length removed, and SK's Next Payload field. */
  readonly inner?: { readonly first: number; readonly hex: string };
}

export interface BodyVector {
  readonly name: string;
  readonly source: 'wireshark' | 'aosp' | 'hand';
  /** Payload type code. */
  readonly type: number;
  /** The payload body, after the 4-byte generic header. */
  readonly hex: string;
}

/** HDR, SAi1{2 proposals}, KEi(31), Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) */
export const HAND_INIT =
  // IKE header: SPIi, SPIr, next=SA(33), version 2.0, IKE_SA_INIT(34), flags I, msg ID 0, length 244
  'a1b2c3d4e5f60718 0000000000000000 21 20 22 08 00000000 000000f4' +
  // SA: next=KE(34), length 84
  '22 00 0054' +
  //   proposal 1 (more), length 36: num 1, IKE, SPI size 0, 3 transforms
  '02 00 0024 01 01 00 03' +
  //     ENCR_AES_GCM_16 (20), KEY_LENGTH(14, TV) = 256
  '03 00 000c 01 00 0014 800e 0100' +
  //     PRF_HMAC_SHA2_256 (5)
  '03 00 0008 02 00 0005' +
  //     KE: Curve25519 (31), last transform
  '00 00 0008 04 00 001f' +
  //   proposal 2 (last), length 44: num 2, IKE, SPI size 0, 4 transforms
  '00 00 002c 02 01 00 04' +
  //     ENCR_AES_CBC (12), KEY_LENGTH 256; PRF_HMAC_SHA2_256; AUTH_HMAC_SHA2_256_128 (12); KE 31
  '03 00 000c 01 00 000c 800e 0100' +
  '03 00 0008 02 00 0005' +
  '03 00 0008 03 00 000c' +
  '00 00 0008 04 00 001f' +
  // KE: next=Nonce(40), length 40, group 31, reserved, 32-byte X25519 public key
  '28 00 0028 001f 0000 8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a' +
  // Nonce: next=N(41), length 36, 32 bytes
  '29 00 0024 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f' +
  // N: next=N, length 28, protocol 0, SPI size 0, NAT_DETECTION_SOURCE_IP (16388), SHA-1
  '29 00 001c 00 00 4004 da17aae101fce0275099c4c61283a3f693ab83ca' +
  // N: last, length 28, NAT_DETECTION_DESTINATION_IP (16389), SHA-1
  '00 00 001c 00 00 4005 353c9acf7083ec324ffaa4cbf740d2c473c22747';

export const MESSAGES: readonly MessageVector[] = [
  {
    name: 'IKE_SA_INIT request, two proposals, KE 31 (hand)',
    source: 'hand',
    hex: HAND_INIT,
  },
  {
    name: 'IKE_SA_INIT request (wireshark aes128ccm12)',
    source: 'wireshark',
    hex:
      'ea684d21597afd3600000000000000002120220800000000000000f82200002800000024010100030300000c0100000f800e008003000008020000050000000804000013' +
      '280000480013000032c6dffe5c43b0d5811f7eaaa84c9f78bf99b9069c2b072e0b82f46bf6f66dd45f97ef89ee285fd5df527a44776b529fc9d8a909d842a6fb59b96a0953956172' +
      '29000024b655462d6f4b66f872ccd7f0f4b4857732921339cbaa5237edba244f262b6823' +
      '2900001c00004004949c9db5739d75a974a49c184618369b34b7f942' +
      '2900001c000040053e721b46be07d53111425d7f80d2c6e220c6072e' +
      '000000100000402f0001000200030004',
  },
  {
    name: 'IKE_SA_INIT response (wireshark aes128ccm12)',
    source: 'wireshark',
    hex:
      'ea684d21597afd36d9fe2ab22dac23ac2120222000000000000000f02200002800000024010100030300000c0100000f800e008003000008020000050000000804000013' +
      '28000048001300002c66beadb6ce8535d6218cb401aa5a1eb4035b97caddaf36374a979c0446b8800506bf9d6f950952326bf3011913da93bb8e40f815376be1a06801c0a63e3b54' +
      '290000249e5d267379e681e7d38d81c710d383401de7e3607b926d90a9958adcb52831aa' +
      '2900001c000040047a0785273d59203829a697550f31cbb94eb72b43' +
      '2900001c00004005c3e58a8cc9933ce0b78f2a50e8de80134e12ce31' +
      '0000000800004014',
  },
  {
    name: 'INFORMATIONAL request: SK{D(IKE)} (wireshark aes128ccm12)',
    source: 'wireshark',
    hex: 'ea684d21597afd36d9fe2ab22dac23ac2e202508000000020000003d2a000021cca0b35de5abc51c9987cbf1f5ecff210eb767cdb85179383b964d78e2',
    inner: { first: 42, hex: '0000000801000000' },
  },
  {
    name: 'INFORMATIONAL response: SK{} (wireshark aes128ccm12)',
    source: 'wireshark',
    hex: 'ea684d21597afd36d9fe2ab22dac23ac2e202520000000020000003500000019a80c957bac15c3f8afdf315a81cc4b7c40e8660d44',
    inner: { first: 0, hex: '' },
  },
  {
    name: 'IKE_SA_INIT request with V (aosp IkeMessageTest)',
    source: 'aosp',
    hex:
      '8f54bf6d8b48e6e10000000000000000212022080000000000000150' +
      '220000300000002c010100040300000c0100000c800e00800300000803000002030000080400000200000008020000022800008800020000b4a2faf4bb54878ae21d6385' +
      '12ece55d9236fc5046ab6cef82220f421f3ce6361faf36564ecb6d28798a94aad7b2b4b603ddeaaa5630adb9ece8ac37534036040610ebdd92f46bef84f0be7db860351843858f8a' +
      'cf87056e272377f70c9f2d81e29c7b0ce4f291a3a72476bb0b278fd4b7b0a4c26bbeb08214c707137607958729000024c39b7f368f4681b89fa9b7be6465abd7c5f68b6ed5d3b4c7' +
      '2cb4240eb5c464122900001c00004004e54f73b7d83f6beb881eab2051d8663f421d10b02b00001c00004005d915368ca036004cb578ae3e3fb268509aeab1900000002069936922' +
      '8741c6d4ca094c93e242c9de19e7b7c60000000500000500',
  },
  {
    name: 'IKE_AUTH request: SK{IDi, IDr, AUTH, SA, TSi, TSr, N, N} (aosp IkeMessageTest)',
    source: 'aosp',
    hex:
      '5f54bf6d8b48e6e1909232b3d1edcb5c2e20230800000001000000ec' +
      '230000d0b9132b7bb9f658dfdc648e5017a6322a030c316ce55f365760d46426ce5cfc78bd1ed9abff63eb9594c1bd5846de333ecd3ea2b705d18293b130395300ba92a351041345' +
      '0a10525cea51b2753b4e92b081fd78d995659a98f742278ff9b8fd3e21554865c15c79a5134d66b2744966089e416c60a274e44a9a3f084eb02f3bdce1e7de9de8d9a62773ab563b' +
      '9a69ba1db03c752acb6136452b8a86c41addb4210d68c423efed80e26edca5fa3fe5d0a5ca9375ce332c474b93fb1fa359eb4e81ae6e0f22abdad69ba8007d50',
    // IKE_AUTH_UNENCRYPTED_PADDED_DATA_HEX_STRING without its 11 padding bytes and Pad Length.
    inner: {
      first: 35,
      hex:
        '2400000c010000000a50500d2700000c010000000a5050502100001c02000000df7c038aefaaa32d3f44b228b52a332744dfb2c1' +
        '2c00002c00000028010304032ad4c0a20300000c0100000c800e008003000008030000020000000805000000' +
        '2d00001801000000070000100000ffff00000000ffffffff2900001801000000070000100000ffff00000000ffffffff' +
        '29000008000040000000000c0000400100000001',
    },
  },
  {
    name: 'empty INFORMATIONAL response (aosp IkeMessageTest)',
    source: 'aosp',
    hex:
      '5f54bf6d8b48e6e1909232b3d1edcb5c2e202528000000000000004c00000030e376871750fdba9f7012446c5dc3f97a' +
      'f83b48ba0dbc68bcc4a78136832100aa4192f251cd4d1b97d298e550',
  },
];

export const BODIES: readonly BodyVector[] = [
  { name: 'D: IKE SA (wireshark, decrypted)', source: 'wireshark', type: 42, hex: '01 00 0000' },
  { name: 'D: two ESP SPIs (aosp)', source: 'aosp', type: 42, hex: '03 04 0002 abcdef01 20fedcba' },
  // protocol ESP, SPI size 4, 3 SPIs
  { name: 'D: three ESP SPIs (hand)', source: 'hand', type: 42, hex: '03 04 0003 c0ffee01 c0ffee02 c0ffee03' },
  { name: 'N: REKEY_SA with ESP SPI (aosp)', source: 'aosp', type: 41, hex: '03 04 4009 2ad4c0a2' },
  // protocol ESP, SPI size 4, REKEY_SA (16393), SPI, no data
  { name: 'N: REKEY_SA (hand)', source: 'hand', type: 41, hex: '03 04 4009 8a7b6c5d' },
  { name: 'N: SIGNATURE_HASH_ALGORITHMS (wireshark)', source: 'wireshark', type: 41, hex: '00 00 402f 0001000200030004' },
  {
    name: 'TSi: two IPv4 ranges (aosp)',
    source: 'aosp',
    type: 44,
    hex: '02000000 07 00 0010 0010 fff0 c0000264 c0000365 07 00 0010 0000 ffff c0000464 c0000466',
  },
  {
    name: 'TSi: IPv4 and IPv6 ranges (hand)',
    source: 'hand',
    type: 44,
    hex:
      // 2 selectors, reserved
      '02 000000' +
      // TS_IPV4_ADDR_RANGE, TCP, length 16, ports 0-65535, 192.0.2.0 - 192.0.2.255
      '07 06 0010 0000 ffff c0000200 c00002ff' +
      // TS_IPV6_ADDR_RANGE, any protocol, length 40, ports 0-65535, 2001:db8:: - 2001:db8::ffff:ffff:ffff:ffff
      '08 00 0028 0000 ffff 20010db8000000000000000000000000 20010db800000000ffffffffffffffff',
  },
  {
    name: 'TSr: one IPv6 range, UDP port 4500 (hand)',
    source: 'hand',
    type: 45,
    hex: '01 000000 08 11 0028 1194 1194 20010db8000000010000000000000000 20010db80000000100000000ffffffff',
  },
  {
    name: 'SA: ESP proposal with SPI, unknown TLV and TV attributes (hand)',
    source: 'hand',
    type: 33,
    hex:
      // proposal (last), length 43: num 1, ESP, SPI size 4, 2 transforms, SPI
      '00 00 002b 01 03 04 02 11223344' +
      // ENCR_AES_GCM_16, length 23: KEY_LENGTH 128 (TV), type 33 TLV of 3 bytes, type 34 TV 0x1234
      '03 00 0017 01 00 0014 800e 0080 0021 0003 abcdef 8022 1234' +
      // ESN: no ESN, last transform
      '00 00 0008 05 00 0000',
  },
  { name: 'IDi: ID_IPV4_ADDR 10.80.80.13 (aosp)', source: 'aosp', type: 35, hex: '01 000000 0a50500d' },
  { name: 'IDi: ID_FQDN "evita" (aosp IkeIdPayloadTest)', source: 'aosp', type: 35, hex: '02 000000 6576697461' },
  { name: 'AUTH: PSK (aosp)', source: 'aosp', type: 39, hex: '02 000000 df7c038aefaaa32d3f44b228b52a332744dfb2c1' },
  { name: 'KE: group 19 (wireshark)', source: 'wireshark', type: 34, hex: '0013 0000 32c6dffe5c43b0d5811f7eaaa84c9f78bf99b9069c2b072e0b82f46bf6f66dd45f97ef89ee285fd5df527a44776b529fc9d8a909d842a6fb59b96a0953956172' },
  { name: 'V: vendor ID (aosp)', source: 'aosp', type: 43, hex: '699369228741c6d4ca094c93e242c9de19e7b7c60000000500000500' },
  { name: 'CERTREQ: X.509 signature, one CA hash (hand)', source: 'hand', type: 38, hex: '04 0123456789abcdef0123456789abcdef01234567' },
];
