# Django's zh_Hans formats, except the month of a month-and-day date without a leading zero
# ("12月2日", "3月2日"), as in the full date.
DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "n月j日"
YEAR_MONTH_FORMAT = "Y年n月"
# Django's zh_Hans groups by four with no separator ("1234567"); Chinese software groups by
# three with commas ("1,234,567"), as mainland banks and app stores print amounts.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
