"""A corpus for fan-out detection: templated campaigns with per-recipient edits, and genuine support-desk
replies (each written for its reader; a few canned answers, sent to people who wrote in)."""

from __future__ import annotations

NAMES = [
    "Bob",
    "Ann",
    "Chen",
    "Dolores",
    "Eve",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jamal",
    "Kasia",
    "Lars",
    "Mona",
    "Nils",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carla",
    "Dmitri",
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Aperture",
]

CAMPAIGNS = [
    "Hi {name},\n\nI noticed {company} is growing fast. We help teams like yours cut cloud costs by "
    "{n}% in the first quarter, without changing a line of code. Would you have 15 minutes next week "
    "for a quick call?\n\nBest,\nMarc\nGrowthly",
    "Hello {name},\n\nCongratulations on the recent launch at {company}! Our lead generation platform "
    "delivered {n} qualified meetings per month to companies of your size. Can I send you a short case "
    "study? Just reply yes.\n\nCheers,\nSales team",
    "Dear {name},\n\nYou have been selected for an exclusive offer: {n}% off our premium SEO package for "
    "{company}. This offer expires on Friday. Click here to claim it: https://offer.example/{n}\n\n"
    "Kind regards",
    "Hey {name}, quick question: who handles vendor partnerships at {company}? We are a logistics "
    "startup saving retailers {n} hours per week on returns. Happy to share numbers if it is relevant. "
    "Thanks!",
    "{name}, {company} could be paying less for payroll. Teams of {n} people switched to us last month "
    "and saved on average 2,300 dollars. Reply to this email and I will set up a free audit for you.",
]


def campaign(template: int, index: int) -> str:
    """The `index`-th personalised copy of a campaign template (name, company and a number vary)."""
    return CAMPAIGNS[template].format(
        name=NAMES[index % len(NAMES)], company=COMPANIES[index % len(COMPANIES)], n=10 + (index * 7) % 80
    )


SUPPORT_REPLIES = [
    "Thanks for the screenshot. The export fails because the file name contains a slash; rename the "
    "report and try again. If it still fails, send me the time of the attempt and I will check the logs.",
    "I have refunded order 4711 to your card. Banks usually show it within three to five working days.",
    "Good question. The API limits are per mailbox and reset at midnight UTC, so your batch at 23:50 "
    "ran into the old day. Splitting it or starting after midnight will avoid the error.",
    "Your invoice address is updated. The next invoice will show the new VAT number; the previous one "
    "cannot be changed, but I can issue a credit note if your accountant needs it.",
    "We reproduced the crash on Android 14 with the dark theme enabled. A fix is in review and should "
    "ship in version 3.2 next Tuesday. Until then, switching to the light theme avoids it.",
    "The delivery was split because one item was on backorder. The second parcel left our warehouse "
    "this morning; tracking should update tonight.",
    "I am sorry about the double charge. One of the two payments was only an authorisation and will "
    "disappear by itself; I checked and only one was captured.",
    "You can add a second admin under Settings, Team, Invite. The invited person needs to accept within "
    "seven days, otherwise the invitation expires and you can send it again.",
    "Thanks for reporting the typo on the pricing page, it is fixed now. Your sharp eye is appreciated.",
    "Our office in Lyon is closed on public holidays, but the online shop ships as usual. Your order "
    "will leave on Thursday.",
    "The warranty covers the hinge, so we will replace the lid free of charge. Please send the laptop "
    "with the prepaid label attached; repairs take about a week.",
    "I looked into the webhook failures: your endpoint answers 301 to a trailing-slash URL. Point the "
    "webhook at the final URL and the retries will succeed.",
    "Unfortunately we cannot ship lithium batteries to the Canary Islands. I have removed them from "
    "the order and refunded that part; the rest ships tomorrow.",
    "Yes, the conference ticket can be transferred. Reply with your colleague's name and email and I "
    "will reissue the badge under their name.",
    "The password reset link expires after an hour, which is probably why it did not work this "
    "morning. I have sent a fresh one; please use it within the hour.",
    "Your subscription renews on the 14th. If you switch to annual billing before then, the remaining "
    "days of this month are credited automatically.",
    "That error usually means the certificate chain is incomplete. Your server sends the leaf "
    "certificate only; adding the intermediate from your provider fixes the handshake.",
    "The table you ordered is assembled by two people in about forty minutes. The screws for the legs "
    "are in the small bag taped under the top.",
    "We do offer a student discount: upload a current student card in your profile and the price "
    "drops by a third at checkout.",
    "I escalated the outage report to our network team. The fibre cut near the station is being "
    "repaired, and they expect service back by 18:00 today.",
    "The chart shows totals per calendar week, starting on Monday. Your spreadsheet starts weeks on "
    "Sunday, which explains the difference of one day at each edge.",
    "Please do not worry about the late fee; I have waived it this time since the reminder went to "
    "your old address.",
    "Your appointment is moved to Wednesday at 10:30 with Dr. Brandt. Bring the referral letter and "
    "your insurance card.",
    "Thanks for your patience. The replacement part arrived at our workshop today and the technician "
    "will call you tomorrow to schedule the visit.",
]

# What a desk answers many times a day, to people who wrote in (correspondents): not first contacts.
CANNED = [
    "Thank you for contacting support. We have received your request and will get back to you within "
    "one business day. Your ticket number is in the subject line.",
    "We are glad the issue is solved. If anything else comes up, just reply to this message and the "
    "ticket will reopen automatically.",
]
