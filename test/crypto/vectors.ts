/**
 * Known-answer vectors, as data (hex strings). Each carries its source; none was computed by the
 * code under test. Combined-mode keys are written as the Aead takes them: key || 4-byte salt,
 * with the 8 bytes after the salt as `iv` (RFC 4106 §4 / RFC 7634 §2 nonce = salt || IV).
 */
import type { CipherSuite, Hash } from '../../src/crypto/types.js';

const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const rep = (byte: string, n: number): string => byte.repeat(n);

export interface AeadVector {
  readonly name: string;
  readonly suite: CipherSuite;
  /** Encryption key || salt. */
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly plain: string;
  /** Ciphertext || 16-byte tag. */
  readonly sealed: string;
}

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Cases 2-4 and
// 14-16 (the ones with 96-bit IVs); hex cross-checked against nettle's testsuite/gcm-test.c.
const GCM_P64 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' + '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const GCM_P60 = GCM_P64.slice(0, 120);
const GCM_A = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
const GCM_K = 'feffe9928665731c6d6a8f9467308308';
const GCM_C3 =
  '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e' + '21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985';
const GCM_C15 =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' + '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';

export const GCM_SPEC: readonly AeadVector[] = [
  { name: 'GCM spec Test Case 2', suite: 'aes128gcm16', key: rep('00', 16) + '00000000', iv: rep('00', 8), aad: '', plain: rep('00', 16), sealed: '0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf' },
  { name: 'GCM spec Test Case 3', suite: 'aes128gcm16', key: GCM_K + 'cafebabe', iv: 'facedbaddecaf888', aad: '', plain: GCM_P64, sealed: GCM_C3 + '4d5c2af327cd64a62cf35abd2ba6fab4' },
  { name: 'GCM spec Test Case 4', suite: 'aes128gcm16', key: GCM_K + 'cafebabe', iv: 'facedbaddecaf888', aad: GCM_A, plain: GCM_P60, sealed: GCM_C3.slice(0, 120) + '5bc94fbc3221a5db94fae95ae7121a47' },
  { name: 'GCM spec Test Case 14', suite: 'aes256gcm16', key: rep('00', 32) + '00000000', iv: rep('00', 8), aad: '', plain: rep('00', 16), sealed: 'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919' },
  { name: 'GCM spec Test Case 15', suite: 'aes256gcm16', key: GCM_K + GCM_K + 'cafebabe', iv: 'facedbaddecaf888', aad: '', plain: GCM_P64, sealed: GCM_C15 + 'b094dac5d93471bdec1a502270e3cc6c' },
  { name: 'GCM spec Test Case 16', suite: 'aes256gcm16', key: GCM_K + GCM_K + 'cafebabe', iv: 'facedbaddecaf888', aad: GCM_A, plain: GCM_P60, sealed: GCM_C15.slice(0, 120) + '76fc6ece0f4e1768cddf8853bb2d551b' },
];

// RFC 4106-style ESP packets: draft-mcgrew-gcm-test-01 §4 (the ESP test vectors for RFC 4106),
// as also used by Cisco's mlspp and Go HPKE tests. AAD = SPI || (64-bit ESN | 32-bit) sequence.
export const GCM_ESP: readonly AeadVector[] = [
  {
    name: 'draft-mcgrew-gcm-test-01: AES-128, SPI 0x4321, 64-bit ESN AAD',
    suite: 'aes128gcm16',
    key: '4c80cdefbb5d10da906ac73c3613a634' + '2e443b68',
    iv: '4956ed7e3b244cfe',
    aad: '000043218765432100000000',
    plain:
      '45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000' +
      '00000000045f736970045f756470037369700963796265726369747902646b00' +
      '0021000101020201',
    sealed:
      'fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34' +
      'cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce' +
      '61bc17d768fd9732' + '459018148f6cbe722fd04796562dfdb4',
  },
  {
    name: 'draft-mcgrew-gcm-test-01: AES-256, SPI 0x4a2cbfe3, seq 2',
    suite: 'aes256gcm16',
    key: 'abbccddef00112233445566778899aababbccddef00112233445566778899aab' + '11223344',
    iv: '0102030405060708',
    aad: '4a2cbfe300000002',
    plain: '4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000' + '7002400020bf0000020405b40101040201020201',
    sealed:
      'ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763' +
      '748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49' +
      '15956c96',
  },
];

// RFC 8439 and RFC 7634; hex cross-checked against strongSwan's test_vectors/chacha20poly1305.c.
const CHACHA_K = '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f';
export const CHACHA: readonly AeadVector[] = [
  {
    name: 'RFC 8439 §2.8.2 AEAD example',
    suite: 'chacha20poly1305',
    key: CHACHA_K + '07000000',
    iv: '4041424344454647',
    aad: '50515253c0c1c2c3c4c5c6c7',
    plain: ascii("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."),
    sealed:
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
      '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
      '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116' + '1ae10b594f09e26a7e902ecbd0600691',
  },
  {
    name: 'RFC 8439 A.5 AEAD decryption example',
    suite: 'chacha20poly1305',
    key: '1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0' + '00000000',
    iv: '0102030405060708',
    aad: 'f33388860000000000004e91',
    plain:
      '496e7465726e65742d4472616674732061726520647261667420646f63756d65' +
      '6e74732076616c696420666f722061206d6178696d756d206f6620736978206d' +
      '6f6e74687320616e64206d617920626520757064617465642c207265706c6163' +
      '65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65' +
      '6e747320617420616e792074696d652e20497420697320696e617070726f7072' +
      '6961746520746f2075736520496e7465726e65742d4472616674732061732072' +
      '65666572656e6365206d6174657269616c206f7220746f206369746520746865' +
      '6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67' +
      '726573732e2fe2809d',
    sealed:
      '64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2' +
      '4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf' +
      '332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855' +
      '9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4' +
      'b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e' +
      'af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a' +
      '0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10' +
      '49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29' +
      'a6ad5cb4022b02709b' + 'eead9d67890cbb22392336fea1851f38',
  },
  {
    name: 'RFC 7634 Appendix A, ESP example',
    suite: 'chacha20poly1305',
    key: CHACHA_K + 'a0a1a2a3',
    iv: '1011121314151617',
    aad: '01020304' + '00000005', // SPI || sequence number
    plain:
      '45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10' +
      '0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223' +
      '2425262728292a2b2c2d2e2f303132333435363701020204',
    sealed:
      '24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6' +
      '14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3' +
      'cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7' +
      'b11b369907e1ad43',
  },
  {
    name: 'RFC 7634 Appendix B, IKEv2 example',
    suite: 'chacha20poly1305',
    key: CHACHA_K + 'a0a1a2a3',
    iv: '1011121314151617',
    aad: 'c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029',
    plain: '0000000c000040010000000a00',
    sealed: '610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2',
  },
];

export interface CbcVector {
  readonly name: string;
  readonly suite: CipherSuite;
  readonly key: string;
  readonly iv: string;
  readonly plain: string;
  readonly ct: string;
}

// RFC 3602 §4 Cases 1-4 (AES-128-CBC); RFC 3602 has no AES-256 case, so NIST SP 800-38A F.2.5
// (CBC-AES256.Encrypt) covers that key size.
export const CBC: readonly CbcVector[] = [
  { name: 'RFC 3602 Case #1', suite: 'aes128-sha256', key: '06a9214036b8a15b512e03d534120006', iv: '3dafba429d9eb430b422da802c9fac41', plain: ascii('Single block msg'), ct: 'e353779c1079aeb82708942dbe77181a' },
  {
    name: 'RFC 3602 Case #2',
    suite: 'aes128-sha256',
    key: 'c286696d887c9aa0611bbb3e2025a45a',
    iv: '562e17996d093d28ddb3ba695a2e6f58',
    plain: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    ct: 'd296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1',
  },
  {
    name: 'RFC 3602 Case #3',
    suite: 'aes128-sha256',
    key: '6c3ea0477630ce21a2ce334aa746c2cd',
    iv: 'c782dc4c098c66cbd9cd27d825682c81',
    plain: ascii('This is a 48-byte message (exactly 3 AES blocks)'),
    ct: 'd0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684',
  },
  {
    name: 'RFC 3602 Case #4',
    suite: 'aes128-sha256',
    key: '56e47a38c5598974bc46903dba290349',
    iv: '8ce82eefbea0da3c44699ed7db51b7d9',
    plain: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf' + 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf',
    ct: 'c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e' + '35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55',
  },
  {
    name: 'NIST SP 800-38A F.2.5 CBC-AES256',
    suite: 'aes256-sha256',
    key: '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
    iv: '000102030405060708090a0b0c0d0e0f',
    plain: '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51' + '30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
    ct: 'f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d' + '39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b',
  },
];

export interface HmacVector {
  readonly name: string;
  readonly hash: Hash;
  readonly key: string;
  readonly data: string;
  /** The full HMAC, or only its first bytes where the source gives only those (test case 5). */
  readonly mac: string;
}

// RFC 4231 §4.2-4.8, Test Cases 1-7; hex cross-checked against strongSwan's sha2_hmac.c (the
// RFC 4868 PRF vectors, same values) and Olivier Gay's hmac-sha2 test.
const HMAC_CASES: readonly { key: string; data: string; sha256: string; sha384: string; sha512: string }[] = [
  {
    key: rep('0b', 20),
    data: ascii('Hi There'),
    sha256: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    sha384: 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    sha512: '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
  },
  {
    key: ascii('Jefe'),
    data: ascii('what do ya want for nothing?'),
    sha256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    sha384: 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    sha512: '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
  },
  {
    key: rep('aa', 20),
    data: rep('dd', 50),
    sha256: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    sha384: '88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27',
    sha512: 'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
  },
  {
    key: '0102030405060708090a0b0c0d0e0f10111213141516171819',
    data: rep('cd', 50),
    sha256: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
    sha384: '3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb',
    sha512: 'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
  },
  {
    // Test Case 5: the RFC gives only the first 128 bits.
    key: rep('0c', 20),
    data: ascii('Test With Truncation'),
    sha256: 'a3b6167473100ee06e0c796c2955552b',
    sha384: '3abf34c3503b2a23a46efc619baef897',
    sha512: '415fad6271580a531d4179bc891d87a6',
  },
  {
    key: rep('aa', 131),
    data: ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
    sha256: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    sha384: '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
    sha512: '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
  },
  {
    key: rep('aa', 131),
    data: ascii(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    sha256: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    sha384: '6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e',
    sha512: 'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58',
  },
];

export const RFC4231: readonly HmacVector[] = HMAC_CASES.flatMap((c, i) =>
  (['sha256', 'sha384', 'sha512'] as const).map((hash) => ({ name: `RFC 4231 Test Case ${i + 1}, HMAC-${hash}`, hash, key: c.key, data: c.data, mac: c[hash] })),
);

export interface Auth256Vector {
  readonly name: string;
  readonly key: string;
  readonly data: string;
  /** PRF-HMAC-SHA-256, the full 32 bytes. */
  readonly prf: string;
  /** HMAC-SHA-256-128, the ESP/IKE ICV (AUTH_HMAC_SHA2_256_128). */
  readonly icv: string;
}

// RFC 4868 §2.7.2.1, SHA256 Authentication Test Vectors (32-byte keys, as AUTH_HMAC_SHA2_256_128 uses).
export const RFC4868_AUTH256: readonly Auth256Vector[] = [
  { name: 'AUTH256-1', key: rep('0b', 32), data: ascii('Hi There'), prf: '198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7', icv: '198a607eb44bfbc69903a0f1cf2bbdc5' },
  { name: 'AUTH256-2', key: ascii('Jefe'.repeat(8)), data: ascii('what do ya want for nothing?'), prf: '167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6', icv: '167f928588c5cc2eef8e3093caa0e87c' },
  { name: 'AUTH256-3', key: rep('aa', 32), data: rep('dd', 50), prf: 'cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0', icv: 'cdcb1220d1ecccea91e53aba3092f962' },
  {
    name: 'AUTH256-4',
    key: '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
    data: rep('cd', 50),
    prf: '372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f',
    icv: '372efcf9b40b35c2115b1346903d2ef4',
  },
];
