"""Problem types of platform-to-platform forwarding (docs/networking.md).

The first five refuse a whole forward (the HTTP answer); the others refuse one forwarded leaf
and are listed in the answer's ``refused`` and on the parent's page of the child.
"""

from __future__ import annotations

from jcjg.core.errors import problem_type

NOT_A_CHILD = problem_type(
    "network-not-a-child",
    403,
    "不是本平台登记的下级平台",
    "只有登记为下级平台的接入方（其他监管平台）才能转发数据：请上级平台在“下级平台”中登记"
    "本平台的地址与日志公钥。",
)
CHILD_HALTED = problem_type(
    "network-child-halted",
    409,
    "下级平台转发已暂停",
    "上级平台发现该平台的存证日志前后不一致（被改写或回退），已暂停接收其转发，"
    "待运维人员核查并恢复。",
)
CHILD_WAITING = problem_type(
    "network-child-waiting",
    503,
    "等待下级平台的检查点",
    "本平台须待该下级平台的存证日志发布覆盖其已转发事实的检查点、将这些事实转报上级平台后，"
    "才接收其后续的报送消息：请按 Retry-After 稍后从 expected 处重发。",
)
FORWARD_GAP = problem_type(
    "network-forward-gap",
    409,
    "转发不连续",
    "转发须从上级平台期待的序号（expected）起逐条连续：请从 expected 处重新转发。",
)
ORIGIN_MISMATCH = problem_type(
    "network-origin-mismatch",
    422,
    "日志标识不符",
    "转发所称的日志标识（origin）不是登记的该下级平台的日志。",
)
ENTRY_MISMATCH = problem_type(
    "network-entry-mismatch",
    422,
    "条目与叶哈希不符",
    "按转发的条目重新计算的叶哈希与所称的叶哈希不同，或条目不是合法的存证条目。",
)
CONTENT_MISMATCH = problem_type(
    "network-content-mismatch",
    422,
    "消息与存证不符",
    "转发的消息正文、类型或密钥与该叶存证的内容哈希、类型或密钥不一致。",
)
LAB_SIGNATURE_INVALID = problem_type(
    "network-lab-signature-invalid",
    422,
    "检测机构签名无效",
    "按检测机构的公钥重新核验，其签名或正文摘要（Content-Digest）不符，或签名时间与下级平台"
    "受理时间相差超过允许的秒数：消息可能在下级平台被改动。",
)
LAB_SIGNATURE_REQUIRED = problem_type(
    "network-lab-signature-required",
    422,
    "须有检测机构本身的签名",
    "本平台要求转发的检测机构数据带有其本身的 Ed25519 签名；用共享密钥（HMAC）签名的消息"
    "只有下级平台的证明，不予接收。",
)
LAB_KEY_CHANGED = problem_type(
    "network-lab-key-changed",
    422,
    "检测机构公钥与先前不同",
    "同一密钥编号先前转发的公钥与本次不同：下级平台不能更换已转发过的检测机构公钥。",
)
LOG_KEY_CHANGED = problem_type(
    "network-log-key-changed",
    422,
    "来源日志公钥与先前不同",
    "转报事实所称的来源平台日志公钥与本平台先前记下的该日志公钥不同：下级平台不能更换其下级"
    "平台的日志公钥；确需更换的，由本平台运维人员核实后处理。",
)
OUT_OF_REGION = problem_type(
    "network-out-of-region",
    422,
    "数据不在下级平台辖区内",
    "消息所属的检测机构或行政区划在本平台不存在，或不在该下级平台所辖区域内。",
)
MESSAGE_TAKEN = problem_type(
    "network-message-taken",
    409,
    "消息编号已被占用",
    "该下级平台转发过另一家检测机构的同一消息编号。",
)
APPLICATION_NOT_FOUND = problem_type(
    "network-application-not-found",
    404,
    "没有这份接入申请",
    "申请编号不存在，或查询所用的签名密钥不是提交该申请时的密钥。",
)
APPLICATION_KEY_MISMATCH = problem_type(
    "network-application-key-mismatch",
    401,
    "申请签名密钥不符",
    "接入申请须用申请中所附的 Ed25519 公钥对应的私钥签名，keyid 为该公钥的指纹"
    "（apply- 加公钥 SHA-256 的前 32 位十六进制）。",
)
APPLICATION_EXISTS = problem_type(
    "network-application-exists",
    409,
    "已有同一日志的接入申请或登记",
    "该存证日志已登记为下级平台，或已有一份待审批的申请（以另一把密钥提交）。",
)

ALL = (
    NOT_A_CHILD,
    CHILD_HALTED,
    CHILD_WAITING,
    FORWARD_GAP,
    ORIGIN_MISMATCH,
    ENTRY_MISMATCH,
    CONTENT_MISMATCH,
    LAB_SIGNATURE_INVALID,
    LAB_SIGNATURE_REQUIRED,
    LAB_KEY_CHANGED,
    LOG_KEY_CHANGED,
    OUT_OF_REGION,
    MESSAGE_TAKEN,
    APPLICATION_NOT_FOUND,
    APPLICATION_KEY_MISMATCH,
    APPLICATION_EXISTS,
)
